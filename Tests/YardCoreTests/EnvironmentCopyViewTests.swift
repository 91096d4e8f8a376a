import Foundation
import Testing
import YardCore

@Suite("environment copy answer")
struct EnvironmentCopyViewTests {
    @Test("newCredentials is optional: an older server's answer still decodes; a newer one carries the keys")
    func backwardsCompatible() throws {
        let old = #"""
            {"environment":{"id":"env_2","name":"staging"},"from":{"id":"env_1","name":"production"},
             "services":[{"service":"Postgres","copiedVariables":["PGHOST"],"sealedNotCopied":[]}]}
            """#
        let decoded = try YardJSON.decoder().decode(EnvironmentCopyView.self, from: Data(old.utf8))
        #expect(decoded.services.first?.newCredentials == nil)

        var view = decoded
        view.services[0].newCredentials = ["DATABASE_URL", "PGPASSWORD", "POSTGRES_PASSWORD"]
        let encoded = try YardJSON.encoder().encode(view)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""newCredentials":["DATABASE_URL","PGPASSWORD","POSTGRES_PASSWORD"]"#))
        #expect(try YardJSON.decoder().decode(EnvironmentCopyView.self, from: encoded) == view)
    }
}
