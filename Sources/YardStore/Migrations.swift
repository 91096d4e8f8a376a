import GRDB

/// Append-only, named schema migrations, registered in numeric order. Never edit or reorder
/// a shipped migration: add a new one with the next number.
enum Migrations {
    /// One named migration.
    struct Migration: Sendable {
        let identifier: String
        let migrate: @Sendable (Database) throws -> Void
    }

    /// The store's migrator: every migration, in numeric order.
    static func migrator(sealing cipher: SealedValueCipher) -> DatabaseMigrator {
        migrator(registering: all(sealing: cipher))
    }

    /// A migrator with `migrations` registered in the order given.
    static func migrator(registering migrations: [Migration]) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.identifier, migrate: migration.migrate)
        }
        return migrator
    }

    /// Every migration in numeric order. Until issue 14 they were registered 006, 009, 010,
    /// 011, 012, 014, 013, 007, 015: GRDB records applied migrations by name and runs the
    /// missing ones in registration order, and 007 and 013 touch nothing 009–014 read or
    /// write, so a database migrated in the old order is valid as it is (docs/architecture.md).
    static func all(sealing cipher: SealedValueCipher) -> [Migration] {
        var migrations: [Migration] = []
        func add(_ identifier: String, _ migrate: @escaping @Sendable (Database) throws -> Void) {
            migrations.append(Migration(identifier: identifier, migrate: migrate))
        }
        add("001_core") { db in
            try db.execute(
                sql: """
                    CREATE TABLE project (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL UNIQUE,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE environment (
                        id TEXT PRIMARY KEY,
                        project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        UNIQUE (project_id, name)
                    );
                    CREATE TABLE service (
                        id TEXT PRIMARY KEY,
                        project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        config_path TEXT,
                        build_overrides TEXT NOT NULL DEFAULT '{}',
                        deploy_overrides TEXT NOT NULL DEFAULT '{}',
                        created_at DATETIME NOT NULL,
                        UNIQUE (project_id, name)
                    );
                    CREATE TABLE deployment (
                        id TEXT PRIMARY KEY,
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        status TEXT NOT NULL,
                        reason TEXT,
                        trigger TEXT NOT NULL,
                        source_hash TEXT,
                        source_path TEXT,
                        artifact_path TEXT,
                        build_result TEXT,
                        deploy_settings TEXT,
                        variables TEXT,
                        created_at DATETIME NOT NULL,
                        updated_at DATETIME NOT NULL
                    );
                    CREATE INDEX deployment_by_service ON deployment(service_id, environment_id, created_at);
                    CREATE TABLE deployment_event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        deployment_id TEXT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,
                        status TEXT NOT NULL,
                        reason TEXT,
                        at DATETIME NOT NULL
                    );
                    CREATE INDEX deployment_event_by_deployment ON deployment_event(deployment_id, id);
                    CREATE TABLE variable (
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        sealed INTEGER NOT NULL DEFAULT 0,
                        updated_at DATETIME NOT NULL,
                        PRIMARY KEY (service_id, environment_id, key)
                    );
                    CREATE TABLE domain (
                        hostname TEXT PRIMARY KEY,
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        target_port INTEGER,
                        generated INTEGER NOT NULL DEFAULT 0,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE replica (
                        id TEXT PRIMARY KEY,
                        deployment_id TEXT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,
                        ordinal INTEGER NOT NULL,
                        port INTEGER NOT NULL,
                        pid INTEGER,
                        status TEXT NOT NULL,
                        restarts INTEGER NOT NULL DEFAULT 0,
                        updated_at DATETIME NOT NULL
                    );
                    CREATE TABLE api_token (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        token_hash TEXT NOT NULL UNIQUE,
                        created_at DATETIME NOT NULL
                    );
                    """
            )
        }
        add("002_isolation") { db in
            try db.execute(
                sql: """
                    CREATE TABLE environment_network (
                        environment_id TEXT PRIMARY KEY REFERENCES environment(id) ON DELETE CASCADE,
                        subnet_index INTEGER NOT NULL UNIQUE
                    );
                    CREATE TABLE volume (
                        id TEXT PRIMARY KEY,
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        mount_path TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        UNIQUE (service_id, environment_id)
                    );
                    ALTER TABLE service ADD COLUMN resource_limits TEXT NOT NULL DEFAULT '{}';
                    ALTER TABLE service ADD COLUMN egress INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE replica ADD COLUMN address TEXT;
                    ALTER TABLE replica ADD COLUMN last_exit TEXT;
                    """
            )
        }
        add("003_builds") { db in
            try db.execute(
                sql: """
                    ALTER TABLE service ADD COLUMN root_directory TEXT;
                    ALTER TABLE variable ADD COLUMN build_secret INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE deployment ADD COLUMN artifact_key TEXT;
                    ALTER TABLE deployment ADD COLUMN no_cache INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE deployment ADD COLUMN rollback_of TEXT;
                    """
            )
        }
        add("004_sleep_setting") { db in
            // NULL: the config file's `sleepApplication` decides.
            try db.execute(sql: "ALTER TABLE service ADD COLUMN sleep_application INTEGER;")
        }
        add("005_cron_runs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE cron_run (
                        id TEXT PRIMARY KEY,
                        deployment_id TEXT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        scheduled_at DATETIME NOT NULL,
                        started_at DATETIME,
                        ended_at DATETIME,
                        status TEXT NOT NULL,
                        exit_code INTEGER,
                        reason TEXT
                    );
                    CREATE INDEX cron_run_by_service ON cron_run (service_id, environment_id, scheduled_at);
                    """
            )
        }
        // A hostname may be split between services by path prefix ('' is the whole host).
        add("006_domain_paths") { db in
            try db.execute(
                sql: """
                    CREATE TABLE domain_new (
                        hostname TEXT NOT NULL,
                        path_prefix TEXT NOT NULL DEFAULT '',
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        target_port INTEGER,
                        generated INTEGER NOT NULL DEFAULT 0,
                        created_at DATETIME NOT NULL,
                        PRIMARY KEY (hostname, path_prefix)
                    );
                    INSERT INTO domain_new (hostname, service_id, environment_id, target_port, generated, created_at)
                        SELECT hostname, service_id, environment_id, target_port, generated, created_at FROM domain;
                    DROP TABLE domain;
                    ALTER TABLE domain_new RENAME TO domain;
                    """
            )
        }
        // `git push` deploys: the branch a service follows per environment, and the commit
        // a deployment was built from (JSON of `GitCommit`).
        add("007_git") { db in
            try db.execute(
                sql: """
                    CREATE TABLE service_branch (
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        branch TEXT NOT NULL,
                        created_at DATETIME NOT NULL,
                        PRIMARY KEY (service_id, environment_id)
                    );
                    CREATE INDEX service_branch_by_branch ON service_branch (branch);
                    ALTER TABLE deployment ADD COLUMN git_commit TEXT;
                    """
            )
        }
        // `${{shared.KEY}}`: variables of an environment, not of one service.
        add("009_shared_variables") { db in
            try db.execute(
                sql: """
                    CREATE TABLE shared_variable (
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        sealed INTEGER NOT NULL DEFAULT 0,
                        updated_at DATETIME NOT NULL,
                        PRIMARY KEY (environment_id, key)
                    );
                    """
            )
        }
        // What the deployment's variables resolved to, hashed: `yard status` compares it.
        add("010_variables_digest") { db in
            try db.execute(sql: "ALTER TABLE deployment ADD COLUMN variables_digest TEXT;")
        }
        add("011_databases") { db in
            // NULL: an app built from uploads; else the database it runs (`DatabaseKind`).
            try db.execute(sql: "ALTER TABLE service ADD COLUMN database TEXT;")
        }
        add("012_backups") { db in
            try db.execute(
                sql: """
                    CREATE TABLE backup (
                        id TEXT PRIMARY KEY,
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        trigger TEXT NOT NULL,
                        status TEXT NOT NULL,
                        path TEXT,
                        base_path TEXT,
                        size_bytes INTEGER,
                        objects INTEGER,
                        started_at DATETIME NOT NULL,
                        finished_at DATETIME,
                        reason TEXT,
                        check_status TEXT,
                        check_reason TEXT
                    );
                    CREATE INDEX backup_by_service ON backup (service_id, environment_id, started_at);
                    CREATE TABLE backup_schedule (
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        frequency TEXT NOT NULL,
                        keep INTEGER NOT NULL,
                        updated_at DATETIME NOT NULL,
                        PRIMARY KEY (service_id, environment_id)
                    );
                    """
            )
        }
        // `yard domain --tcp`: a host port forwarded to a service port (Railway's TCP proxy).
        add("013_tcp_proxy") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tcp_proxy (
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        target_port INTEGER NOT NULL,
                        host_port INTEGER NOT NULL UNIQUE,
                        created_at DATETIME NOT NULL,
                        PRIMARY KEY (service_id, environment_id, target_port)
                    );
                    """
            )
        }
        // Sealed values, build secrets and deployments' variables encrypted at rest.
        add("014_sealed_at_rest") { db in
            try SQLiteStore.sealClearRows(db, with: cipher)
            // Services whose generated domain was removed (a worker): no new one at the next deploy.
            try db.execute(
                sql: """
                    CREATE TABLE generated_domain_removed (
                        service_id TEXT NOT NULL REFERENCES service(id) ON DELETE CASCADE,
                        environment_id TEXT NOT NULL REFERENCES environment(id) ON DELETE CASCADE,
                        PRIMARY KEY (service_id, environment_id)
                    );
                    """
            )
        }
        // PR environments: each project's webhook secret (GitHub signs deliveries with it;
        // kept like a sealed variable: never returned after it is generated).
        add("015_webhooks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE webhook_secret (
                        project_id TEXT PRIMARY KEY NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        secret TEXT NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    """
            )
        }
        // Webhook secrets sealed at rest, like sealed variables (015 stored them in clear).
        add("016_webhook_secret_sealed") { db in
            try SQLiteStore.sealClearWebhookSecrets(db, with: cipher)
        }
        // Webhook deliveries seen (GitHub's X-GitHub-Delivery and the body's digest), so a
        // signed delivery cannot be replayed; bounded per project by the store.
        add("017_webhook_delivery") { db in
            try db.execute(
                sql: """
                    CREATE TABLE webhook_delivery (
                        project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
                        delivery_id TEXT NOT NULL,
                        body_digest TEXT NOT NULL,
                        received_at DATETIME NOT NULL
                    );
                    CREATE UNIQUE INDEX webhook_delivery_id ON webhook_delivery (project_id, delivery_id);
                    CREATE UNIQUE INDEX webhook_delivery_digest ON webhook_delivery (project_id, body_digest);
                    CREATE INDEX webhook_delivery_age ON webhook_delivery (project_id, received_at);
                    """
            )
        }
        // Sealed values bound to their row (AES-GCM associated data): 014/016's unbound
        // values are sealed again, so one copied into another row no longer opens.
        add("018_sealed_values_bound") { db in
            try SQLiteStore.bindSealedValues(db, with: cipher)
        }
        // Image services (`yard add --image`): the reference, and the registry login for a
        // private one (the password sealed, bound to the service).
        add("019_service_image") { db in
            try db.execute(
                sql: """
                    ALTER TABLE service ADD COLUMN image TEXT;
                    ALTER TABLE service ADD COLUMN registry_username TEXT;
                    ALTER TABLE service ADD COLUMN registry_password TEXT;
                    """
            )
        }
        // Metrics points per service and environment (issue 20): 10 s, 1 min and 10 min steps,
        // kept a day, a week and a month (`SQLiteStore+Metrics.swift`).
        add("020_metrics_points") { db in
            try db.execute(sql: SQLiteStore.metricsPointTableSQL)
        }
        // Alerts (issue 20): channels (the target and a webhook's signing secret sealed,
        // bound to the channel), rules per service and environment, each with its state.
        add("021_alerts") { db in
            try SQLiteStore.createAlertTables(db)
        }
        // Log drains (issue 20 item 3): a service's lines forwarded to syslog or HTTP, the URL sealed.
        add("022_log_drains") { db in
            try SQLiteStore.createLogDrainTable(db)
        }
        return migrations
    }
}
