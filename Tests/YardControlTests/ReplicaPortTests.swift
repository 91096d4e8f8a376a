import Testing
import YardCore

@testable import YardControl

@Suite("the port a replica listens on")
struct ReplicaPortTests {
    @Test("no PORT set: each replica gets a free port")
    func allocatedWithoutAUserPort() throws {
        #expect(try ReplicaPort.choose(userPort: nil, databasePort: nil, ownAddress: true) == ReplicaPort())
        #expect(try ReplicaPort.choose(userPort: nil, databasePort: nil, ownAddress: false) == ReplicaPort())
    }

    @Test("an image's lowest EXPOSEd port is PORT when the user set none, on the sandbox only")
    func imagePort() throws {
        #expect(try ReplicaPort.choose(userPort: nil, databasePort: nil, ownAddress: true, imagePort: 6379) == ReplicaPort(fixed: 6379))
        #expect(try ReplicaPort.choose(userPort: "8080", databasePort: nil, ownAddress: true, imagePort: 6379) == ReplicaPort(fixed: 8080))
        #expect(try ReplicaPort.choose(userPort: nil, databasePort: nil, ownAddress: false, imagePort: 6379) == ReplicaPort())
    }

    @Test("a PORT the user set is used as it is where each replica has its own address")
    func userPortOnTheSandbox() throws {
        #expect(try ReplicaPort.choose(userPort: "8080", databasePort: nil, ownAddress: true) == ReplicaPort(fixed: 8080))
        #expect(try ReplicaPort.choose(userPort: " 3000 ", databasePort: nil, ownAddress: true) == ReplicaPort(fixed: 3000))
    }

    @Test("plain processes share the host's ports: a port per replica, and a warning that says why")
    func userPortOnPlainProcesses() throws {
        let choice = try ReplicaPort.choose(userPort: "8080", databasePort: nil, ownAddress: false)
        #expect(choice.fixed == nil)
        let warning = try #require(choice.warning)
        #expect(warning.contains("PORT=8080") && warning.contains("--runtime plain") && warning.contains("sandbox runtime"), "\(warning)")
    }

    @Test("a database listens where its own variables say, whatever PORT is")
    func databasePortWins() throws {
        #expect(try ReplicaPort.choose(userPort: "8080", databasePort: 5432, ownAddress: true) == ReplicaPort(fixed: 5432))
        #expect(try ReplicaPort.choose(userPort: nil, databasePort: 6379, ownAddress: false) == ReplicaPort(fixed: 6379))
    }

    @Test("a PORT that is not a TCP port is refused, naming the value and what to do", arguments: ["", "eighty", "0", "65536", "-1", "80.5"])
    func invalidUserPort(value: String) throws {
        let error = try #require(throws: YardError.self) {
            try ReplicaPort.choose(userPort: value, databasePort: nil, ownAddress: true)
        }
        #expect(error.code == .invalidConfig)
        #expect(error.message.contains("the PORT variable is '\(value)'"), "\(error.message)")
        #expect(error.message.contains("yard variables --delete PORT"), "\(error.message)")
    }
}
