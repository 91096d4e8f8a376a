import Foundation
import Testing

@testable import YardControl

/// Issue 13.14 and the PGDATABASE question: the pure parts.
@Suite("Local authority names and database arguments")
struct EdgeHardeningTests {
    @Test("the local authority covers the base domain and names under it, on a label boundary")
    func localAuthorityCoverage() {
        #expect(DomainCertificates.isCovered(host: "localhost", by: "localhost"))
        #expect(DomainCertificates.isCovered(host: "api-shop.localhost", by: "localhost"))
        #expect(DomainCertificates.isCovered(host: "API-Shop.Apps.Example.com", by: "apps.example.com"))
        #expect(!DomainCertificates.isCovered(host: "www.google.com", by: "localhost"))
        #expect(!DomainCertificates.isCovered(host: "evillocalhost", by: "localhost"))
        #expect(!DomainCertificates.isCovered(host: "localhost.evil.com", by: "localhost"))
        #expect(!DomainCertificates.isCovered(host: "", by: "localhost"))
    }

    @Test("a database name is passed as a quoted dbname, never as connection options")
    func databaseArgument() {
        #expect(PostgresTools.dbname("railway") == "dbname='railway'")
        #expect(PostgresTools.dbname("host=/tmp dbname=x") == "dbname='host=/tmp dbname=x'")
        #expect(PostgresTools.dbname("x' host='evil") == "dbname='x\\' host=\\'evil'")
        #expect(PostgresTools.dbname("a\\' b") == "dbname='a\\\\\\' b'")
        #expect(PostgresTools.dbname("postgresql://evil:1/x") == "dbname='postgresql://evil:1/x'")
    }
}
