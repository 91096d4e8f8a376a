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

    /// The shell script a replica of the service runs (with the service's variables in its
    /// environment and the volume at `RAILWAY_VOLUME_MOUNT_PATH`). The password reaches the
    /// server through a file in the sandbox's private /tmp, never through argv, and is taken
    /// out of the server's environment.
    public var startScript: String {
        switch self {
        case .postgres: Self.postgresScript
        case .redis: Self.redisScript
        case .mysql: Self.mysqlScript
        }
    }

    // The newest installed major version; initdb on first start. Then the server runs under
    // a shell started afresh without the password variables (a process's first environment
    // stays readable in /proc), which turns the platform's SIGTERM into SIGINT: postgres's
    // fast shutdown, which flushes the data and ends the sessions at once.
    private static let postgresScript = """
        set -eu
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
        if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
          echo "postgres is not installed on this machine: apt-get install -y postgresql" >&2
          exit 1
        fi
        PGDATA="$RAILWAY_VOLUME_MOUNT_PATH/pgdata"
        export PGDATA
        umask 077
        if [ ! -s "$PGDATA/PG_VERSION" ]; then
          echo "initializing a new database cluster in the volume"
          rm -rf "$PGDATA"
          pwfile=$(mktemp)
          printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
          "$bin/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=scram-sha-256 \
            --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
          rm -f "$pwfile"
          printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
          printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
          echo "database $POSTGRES_DB created"
        fi
        # Point-in-time recovery (`yard backup`): every finished WAL segment is copied into the
        # volume's wal-archive, base backups come over replication connections, and a restore
        # leaves yard-recovery.conf with recovery.signal (the file goes once recovery is over).
        archive="$RAILWAY_VOLUME_MOUNT_PATH/wal-archive"
        mkdir -p "$archive"
        cat > "$PGDATA/yard-archive.conf" <<EOF
        wal_level = replica
        archive_mode = on
        archive_command = 'test ! -f "$archive/%f" && cp "%p" "$archive/%f.part" && mv "$archive/%f.part" "$archive/%f"'
        EOF
        grep -q "yard-archive.conf" "$PGDATA/postgresql.conf" \
          || printf "include_if_exists = 'yard-archive.conf'\ninclude_if_exists = 'yard-recovery.conf'\n" >> "$PGDATA/postgresql.conf"
        grep -q "^host replication all 0.0.0.0/0" "$PGDATA/pg_hba.conf" \
          || printf 'host replication all 0.0.0.0/0 scram-sha-256\nhost replication all ::/0 scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
        [ -f "$PGDATA/recovery.signal" ] || rm -f "$PGDATA/yard-recovery.conf"
        exec env -u PGPASSWORD -u POSTGRES_PASSWORD -u DATABASE_URL -u DATABASE_PUBLIC_URL /bin/sh -c '
        "$0/postgres" -D "$PGDATA" -p "$PGPORT" -k /tmp -c listen_addresses="*" &
        server=$!
        trap "kill -INT $server 2>/dev/null" TERM INT
        wait "$server"; status=$?
        while kill -0 "$server" 2>/dev/null; do wait "$server"; status=$?; done
        if [ "$status" -gt 128 ]; then wait "$server"; again=$?; [ "$again" -eq 127 ] || status=$again; fi
        exit "$status"' "$bin"
        """

    // Append-only file in the volume; SIGTERM makes redis flush it and exit. The config,
    // password included, goes through stdin (`redis-server -`), so no file keeps it.
    private static let redisScript = """
        set -eu
        if ! command -v redis-server >/dev/null; then
          echo "redis-server is not installed on this machine: apt-get install -y redis-server" >&2
          exit 1
        fi
        password=$REDISPASSWORD
        unset REDISPASSWORD REDIS_URL REDIS_PUBLIC_URL
        exec redis-server - <<EOF
        port $REDISPORT
        bind * -::*
        dir $RAILWAY_VOLUME_MOUNT_PATH
        appendonly yes
        daemonize no
        requirepass $password
        EOF
        """

    // MariaDB from Debian's mariadb-server. On first start: mariadb-install-db, then a
    // bootstrap run (no network) that drops the password-less root accounts it made, gives
    // root the password (from stdin, never argv) at localhost and at '%', and creates the
    // database. `--no-defaults` keeps the system's /etc/mysql config (its /run socket, its
    // log files) out; the socket goes to a private temporary folder. SIGTERM is mariadbd's
    // clean shutdown.
    private static let mysqlScript = """
        set -eu
        if [ ! -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null; then
          echo "mariadb is not installed on this machine: apt-get install -y mariadb-server" >&2
          exit 1
        fi
        datadir="$RAILWAY_VOLUME_MOUNT_PATH/mariadb"
        run=$(mktemp -d)
        umask 077
        if [ ! -d "$datadir/mysql" ]; then
          echo "initializing a new database in the volume"
          rm -rf "$datadir"
          if ! mariadb-install-db --no-defaults --datadir="$datadir" --auth-root-authentication-method=normal \
            --skip-test-db >"$run/install.log" 2>&1; then
            cat "$run/install.log" >&2
            exit 1
          fi
          /usr/sbin/mariadbd --no-defaults --datadir="$datadir" --bootstrap --skip-networking --socket="$run/bootstrap.sock" \
            --log-error="$run/bootstrap.log" <<SQL || { cat "$run/bootstrap.log" >&2; exit 1; }
        FLUSH PRIVILEGES;
        DELETE FROM mysql.global_priv WHERE Host <> 'localhost';
        FLUSH PRIVILEGES;
        ALTER USER 'root'@'localhost' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
        CREATE USER 'root'@'%' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
        GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
        CREATE DATABASE \\`$MYSQL_DATABASE\\`;
        SQL
          echo "database $MYSQL_DATABASE created"
        fi
        exec env -u MYSQLPASSWORD -u MYSQL_ROOT_PASSWORD -u MYSQL_URL -u MYSQL_PUBLIC_URL /usr/sbin/mariadbd --no-defaults \
          --datadir="$datadir" --port="$MYSQLPORT" --bind-address='*' --socket="$run/mysqld.sock" \
          --pid-file="$run/mysqld.pid" --skip-name-resolve
        """
}
