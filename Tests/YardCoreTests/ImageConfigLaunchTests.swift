import Testing

@testable import YardCore

@Suite("how an image's config and a service's settings make a replica's process")
struct ImageConfigLaunchTests {
    @Test("without a start command the image's ENTRYPOINT and CMD run")
    func imagesOwnCommand() throws {
        let config = ImageConfig(entrypoint: ["/entrypoint.sh"], command: ["redis-server", "--port", "6379"])
        #expect(try config.arguments(startCommand: "  ") == ["/entrypoint.sh", "redis-server", "--port", "6379"])
        #expect(try ImageConfig(command: ["perl", "/srv/server.pl"]).arguments(startCommand: "") == ["perl", "/srv/server.pl"])
    }

    @Test("a start command replaces the ENTRYPOINT in exec form: words, quotes, nothing expanded")
    func startCommandOverridesEntrypoint() throws {
        let config = ImageConfig(entrypoint: ["/entrypoint.sh"], command: ["serve"])
        #expect(try config.arguments(startCommand: "node server.js --port 80") == ["node", "server.js", "--port", "80"])
        #expect(
            try config.arguments(startCommand: #"/bin/sh -c "echo \"$HOME\" && exec app" 'it''s' a\ b"#)
                == ["/bin/sh", "-c", #"echo "$HOME" && exec app"#, "its", "a b"])
        #expect(try config.arguments(startCommand: "run ''") == ["run", ""])
        #expect(throws: YardError.self) { try config.arguments(startCommand: #"sh -c "unclosed"#) }
    }

    @Test("an image with nothing to run and no start command is refused, saying what to set")
    func nothingToRun() {
        #expect {
            try ImageConfig().arguments(startCommand: "")
        } throws: { error in
            (error as? YardError)?.message.contains("start command") == true
        }
    }

    @Test("Env entries become variables; a later entry wins and a value may contain '='")
    func environment() {
        let config = ImageConfig(environment: ["PATH=/usr/bin", "A=1", "B=x=y", "A=2", "EMPTY="])
        #expect(config.environmentVariables == ["PATH": "/usr/bin", "A": "2", "B": "x=y", "EMPTY": ""])
    }

    @Test("USER resolves through the image's own passwd and group files")
    func users() throws {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nredis:x:999:998::/data:/bin/false\n"
        let group = "root:x:0:\nredis:x:998:\nstaff:x:50:\n"
        func ids(_ user: String) throws -> [UInt32] {
            let resolved = try ImageConfig(user: user).resolveUser(passwd: passwd, group: group)
            return [resolved.uid, resolved.gid]
        }
        #expect(try ids("") == [0, 0])
        #expect(try ids("redis") == [999, 998])
        #expect(try ids("999") == [999, 998])
        #expect(try ids("1000") == [1000, 1000])
        #expect(try ids("redis:staff") == [999, 50])
        #expect(try ids("1000:7") == [1000, 7])
        #expect(throws: YardError.self) { try ImageConfig(user: "nobody-here").resolveUser(passwd: passwd, group: group) }
        #expect(throws: YardError.self) { try ImageConfig(user: "redis:wheel").resolveUser(passwd: passwd, group: group) }
        #expect(throws: YardError.self) { try ImageConfig(user: "70000").resolveUser(passwd: passwd, group: group) }
    }
}
