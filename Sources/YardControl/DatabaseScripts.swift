import YardCore

/// The shell scripts database services' replicas run (`yard add --database`), kept in the
/// target that runs them. A replica gets the service's variables in its environment and the
/// volume at `RAILWAY_VOLUME_MOUNT_PATH`. The password reaches the server through a file in
/// the sandbox's private /tmp or stdin, never through argv, and is taken out of the
/// server's environment.
public enum DatabaseScripts {
    /// The start script of a database service of `kind`.
    public static func startScript(for kind: DatabaseKind) -> String {
        switch kind {
        case .postgres: postgres
        case .redis: redis
        case .mysql: mysql
        }
    }

    // The newest installed major version; initdb on first start. Then the server runs under
    // a shell started afresh without the password variables (a process's first environment
    // stays readable in /proc), which turns the platform's SIGTERM into SIGINT: postgres's
    // fast shutdown, which flushes the data and ends the sessions at once.
    static let postgres = """
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
    static let redis = """
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
    static let mysql = """
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
