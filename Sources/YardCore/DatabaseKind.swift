import Foundation

/// A database service (`yard add --database`): which server it runs from Debian's packages,
/// and the variables Railway gives such a service.
public enum DatabaseKind: String, Codable, Sendable, CaseIterable {
    case postgres
    case redis
    case mysql

    /// The service name Railway gives a new database.
    public var defaultServiceName: String {
        switch self {
        case .postgres: "Postgres"
        case .redis: "Redis"
        case .mysql: "MySQL"
        }
    }

    /// The server's port inside its private network.
    public var port: Int {
        switch self {
        case .postgres: 5432
        case .redis: 6379
        case .mysql: 3306
        }
    }

    /// Where the data volume is mounted, as in Railway's images.
    public var volumeMountPath: String {
        switch self {
        case .postgres: "/var/lib/postgresql/data"
        case .redis: "/data"
        case .mysql: "/var/lib/mysql"
        }
    }

    /// The variable the server reads its port from.
    public var portVariable: String {
        switch self {
        case .postgres: "PGPORT"
        case .redis: "REDISPORT"
        case .mysql: "MYSQLPORT"
        }
    }

    /// The Debian package that provides the server, for error messages.
    public var debianPackage: String {
        switch self {
        case .postgres: "postgresql"
        case .redis: "redis-server"
        case .mysql: "mariadb-server"
        }
    }

    /// Parses `--database`'s value; Railway's names and common aliases are accepted.
    public init(argument: String) throws(YardError) {
        switch argument.lowercased() {
        case "postgres", "postgresql", "pg": self = .postgres
        case "redis": self = .redis
        case "mysql", "mariadb": self = .mysql
        default:
            throw YardError(.invalidInput, "'\(argument)' is not a database Switchyard runs: use postgres, redis or mysql")
        }
    }

    /// One generated variable of a database service.
    public struct Variable: Sendable, Equatable {
        public var key: String
        public var value: String
        /// Holds the password: injected, never readable back.
        public var sealed: Bool

        public init(key: String, value: String, sealed: Bool) {
            self.key = key
            self.value = value
            self.sealed = sealed
        }
    }

    /// The variables of a new database service, named as on Railway: `host` is where other
    /// services reach it (`<name>.railway.internal`), `password` a fresh random one. Every
    /// variable whose value contains the password is sealed.
    public func variables(host: String, port: Int, password: String) -> [Variable] {
        let pairs: [(String, String)]
        switch self {
        case .postgres:
            let user = "postgres"
            let database = "railway"
            pairs = [
                ("PGHOST", host), ("PGPORT", String(port)), ("PGUSER", user), ("PGPASSWORD", password),
                ("PGDATABASE", database), ("POSTGRES_USER", user), ("POSTGRES_PASSWORD", password),
                ("POSTGRES_DB", database),
                ("DATABASE_URL", "postgresql://\(user):\(password)@\(host):\(port)/\(database)"),
            ]
        case .redis:
            let user = "default"
            pairs = [
                ("REDISHOST", host), ("REDISPORT", String(port)), ("REDISUSER", user), ("REDISPASSWORD", password),
                ("REDIS_URL", "redis://\(user):\(password)@\(host):\(port)"),
            ]
        case .mysql:
            let user = "root"
            let database = "railway"
            pairs = [
                ("MYSQLHOST", host), ("MYSQLPORT", String(port)), ("MYSQLUSER", user), ("MYSQLPASSWORD", password),
                ("MYSQLDATABASE", database), ("MYSQL_ROOT_PASSWORD", password), ("MYSQL_DATABASE", database),
                ("MYSQL_URL", "mysql://\(user):\(password)@\(host):\(port)/\(database)"),
            ]
        }
        return pairs.map { Variable(key: $0.0, value: $0.1, sealed: $0.1.contains(password)) }
    }

    /// The variable with the address from outside, through the TCP proxy (`yard domain --tcp`).
    public var publicURLVariable: String {
        switch self {
        case .postgres: "DATABASE_PUBLIC_URL"
        case .redis: "REDIS_PUBLIC_URL"
        case .mysql: "MYSQL_PUBLIC_URL"
        }
    }

    /// The credentials in a database service's variables: user, password and database (none
    /// for redis). Nil when one is missing (deleted by hand).
    public func credentials(in variables: [String: String]) -> (user: String, password: String, database: String?)? {
        let keys: (user: String, password: String, database: String?) =
            switch self {
            case .postgres: ("PGUSER", "PGPASSWORD", "PGDATABASE")
            case .redis: ("REDISUSER", "REDISPASSWORD", nil)
            case .mysql: ("MYSQLUSER", "MYSQLPASSWORD", "MYSQLDATABASE")
            }
        guard let user = variables[keys.user], let password = variables[keys.password] else { return nil }
        if let databaseKey = keys.database {
            guard let database = variables[databaseKey] else { return nil }
            return (user, password, database)
        }
        return (user, password, nil)
    }

    /// The public URL variable for a TCP proxy at `host:port` (sealed: it holds the password),
    /// in the URL form of the service's private one.
    public func publicURL(variables: [String: String], host: String, port: Int) -> Variable? {
        guard let (user, password, database) = credentials(in: variables) else { return nil }
        let value =
            switch self {
            case .postgres: "postgresql://\(user):\(password)@\(host):\(port)/\(database ?? "")"
            case .redis: "redis://\(user):\(password)@\(host):\(port)"
            case .mysql: "mysql://\(user):\(password)@\(host):\(port)/\(database ?? "")"
            }
        return Variable(key: publicURLVariable, value: value, sealed: true)
    }

    /// A random password: 32 letters and digits (about 190 bits), safe in URLs and config
    /// files without quoting.
    public static func makePassword() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
