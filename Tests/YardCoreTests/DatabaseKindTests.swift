import Foundation
import Testing
import YardCore

@Suite("database services")
struct DatabaseKindTests {
    func values(_ variables: [DatabaseKind.Variable]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: variables.map { ($0.key, $0.value) })
    }

    @Test("Postgres gets Railway's PG*, POSTGRES_* and DATABASE_URL; the password ones are sealed")
    func postgres() {
        let variables = DatabaseKind.postgres.variables(host: "postgres.railway.internal", port: 5432, password: "Secret42")
        #expect(values(variables) == [
            "PGHOST": "postgres.railway.internal", "PGPORT": "5432", "PGUSER": "postgres", "PGPASSWORD": "Secret42",
            "PGDATABASE": "railway", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "Secret42", "POSTGRES_DB": "railway",
            "DATABASE_URL": "postgresql://postgres:Secret42@postgres.railway.internal:5432/railway",
        ])
        #expect(Set(variables.filter(\.sealed).map(\.key)) == ["PGPASSWORD", "POSTGRES_PASSWORD", "DATABASE_URL"])
    }

    @Test("Redis gets REDIS* and REDIS_URL with the user `default`")
    func redis() {
        let variables = DatabaseKind.redis.variables(host: "cache.railway.internal", port: 6379, password: "pw")
        #expect(values(variables) == [
            "REDISHOST": "cache.railway.internal", "REDISPORT": "6379", "REDISUSER": "default", "REDISPASSWORD": "pw",
            "REDIS_URL": "redis://default:pw@cache.railway.internal:6379",
        ])
        #expect(Set(variables.filter(\.sealed).map(\.key)) == ["REDISPASSWORD", "REDIS_URL"])
    }

    @Test("MySQL gets MYSQL*, MYSQL_ROOT_PASSWORD, MYSQL_DATABASE and MYSQL_URL with the user root")
    func mysql() {
        let variables = DatabaseKind.mysql.variables(host: "mysql.railway.internal", port: 3306, password: "pw")
        #expect(values(variables) == [
            "MYSQLHOST": "mysql.railway.internal", "MYSQLPORT": "3306", "MYSQLUSER": "root", "MYSQLPASSWORD": "pw",
            "MYSQLDATABASE": "railway", "MYSQL_ROOT_PASSWORD": "pw", "MYSQL_DATABASE": "railway",
            "MYSQL_URL": "mysql://root:pw@mysql.railway.internal:3306/railway",
        ])
        #expect(Set(variables.filter(\.sealed).map(\.key)) == ["MYSQLPASSWORD", "MYSQL_ROOT_PASSWORD", "MYSQL_URL"])
    }

    @Test("the public URL through the TCP proxy: DATABASE_PUBLIC_URL, REDIS_PUBLIC_URL, MYSQL_PUBLIC_URL, sealed, from the stored credentials")
    func publicURLs() {
        func publicURL(_ kind: DatabaseKind) -> DatabaseKind.Variable? {
            let stored = values(kind.variables(host: "db.railway.internal", port: kind.port, password: "Secret42"))
            return kind.publicURL(variables: stored, host: "127.0.0.1", port: 20001)
        }
        #expect(publicURL(.postgres) == .init(key: "DATABASE_PUBLIC_URL", value: "postgresql://postgres:Secret42@127.0.0.1:20001/railway", sealed: true))
        #expect(publicURL(.redis) == .init(key: "REDIS_PUBLIC_URL", value: "redis://default:Secret42@127.0.0.1:20001", sealed: true))
        #expect(publicURL(.mysql) == .init(key: "MYSQL_PUBLIC_URL", value: "mysql://root:Secret42@127.0.0.1:20001/railway", sealed: true))
        // Without its password variable there is no URL to make.
        #expect(DatabaseKind.postgres.publicURL(variables: ["PGUSER": "postgres", "PGDATABASE": "railway"], host: "127.0.0.1", port: 1) == nil)
        let credentials = DatabaseKind.mysql.credentials(in: values(DatabaseKind.mysql.variables(host: "h", port: 3306, password: "pw")))
        #expect(credentials?.user == "root" && credentials?.password == "pw" && credentials?.database == "railway")
        #expect(DatabaseKind.redis.credentials(in: ["REDISUSER": "default", "REDISPASSWORD": "pw"])?.database == nil)
    }

    @Test("defaults as on Railway; --database accepts the usual spellings and rejects others")
    func names() throws {
        #expect(DatabaseKind.allCases.map(\.defaultServiceName) == ["Postgres", "Redis", "MySQL"])
        #expect(try DatabaseKind(argument: "PostgreSQL") == .postgres)
        #expect(try DatabaseKind(argument: "redis") == .redis)
        let error = #expect(throws: YardError.self) { try DatabaseKind(argument: "mongo") }
        #expect(error?.message.contains("use postgres, redis or mysql") == true)
    }

    @Test("passwords are random, long and need no quoting")
    func passwords() {
        let passwords = (0..<50).map { _ in DatabaseKind.makePassword() }
        #expect(Set(passwords).count == 50)
        for password in passwords {
            #expect(password.count == 32)
            #expect(password.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
    }
}
