import Foundation

/// The OpenAPI description served at `/v1/openapi.json`; the end-to-end tests check that
/// every route the CLI calls is described in it.
enum OpenAPIDocument {
    static let json: String = #"""
{
  "components": {
    "schemas": {
      "Backup": {
        "properties": {
          "check": {
            "description": "the test restore into a throwaway server",
            "enum": [
              "RUNNING",
              "PASSED",
              "FAILED"
            ],
            "nullable": true,
            "type": "string"
          },
          "checkReason": {
            "description": "what the check found, or why it failed",
            "nullable": true,
            "type": "string"
          },
          "finishedAt": {
            "format": "date-time",
            "nullable": true,
            "type": "string"
          },
          "id": {
            "type": "string"
          },
          "objects": {
            "description": "tables in the dump (postgres) or keys in the snapshot (redis)",
            "nullable": true,
            "type": "integer"
          },
          "pointInTime": {
            "description": "whether it has a base backup a --to restore can start from (postgres)",
            "type": "boolean"
          },
          "reason": {
            "description": "why the backup failed",
            "nullable": true,
            "type": "string"
          },
          "service": {
            "type": "string"
          },
          "sizeBytes": {
            "description": "bytes on disk: the dump plus, for postgres, the base backup",
            "nullable": true,
            "type": "integer"
          },
          "startedAt": {
            "format": "date-time",
            "type": "string"
          },
          "status": {
            "enum": [
              "RUNNING",
              "SUCCEEDED",
              "FAILED"
            ],
            "type": "string"
          },
          "trigger": {
            "description": "manual (yard backup create) or scheduled",
            "type": "string"
          }
        },
        "required": [
          "id",
          "service",
          "trigger",
          "status",
          "startedAt",
          "pointInTime"
        ],
        "type": "object"
      },
      "BackupList": {
        "properties": {
          "backups": {
            "items": {
              "$ref": "#/components/schemas/Backup"
            },
            "type": "array"
          },
          "schedule": {
            "allOf": [
              {
                "$ref": "#/components/schemas/BackupSchedule"
              }
            ],
            "description": "null: no schedule",
            "nullable": true
          }
        },
        "required": [
          "backups"
        ],
        "type": "object"
      },
      "BackupRestore": {
        "properties": {
          "backup": {
            "type": "string"
          },
          "message": {
            "type": "string"
          },
          "pointInTime": {
            "format": "date-time",
            "nullable": true,
            "type": "string"
          },
          "service": {
            "description": "the service the data went into",
            "type": "string"
          }
        },
        "required": [
          "backup",
          "service",
          "message"
        ],
        "type": "object"
      },
      "BackupRestoreRequest": {
        "properties": {
          "backup": {
            "description": "backup id; null: the newest (with `to`, the newest base backup finished before it)",
            "nullable": true,
            "type": "string"
          },
          "into": {
            "description": "restore into a new database service of this name (own credentials); the service is untouched",
            "nullable": true,
            "type": "string"
          },
          "to": {
            "description": "point-in-time recovery (postgres): replay the WAL archive up to this moment",
            "format": "date-time",
            "nullable": true,
            "type": "string"
          }
        },
        "type": "object"
      },
      "BackupSchedule": {
        "properties": {
          "frequency": {
            "description": "due at 00:00 UTC: every day, on Sundays, on the 1st",
            "enum": [
              "daily",
              "weekly",
              "monthly"
            ],
            "type": "string"
          },
          "keep": {
            "description": "scheduled backups kept; older ones are deleted",
            "type": "integer"
          },
          "nextAt": {
            "format": "date-time",
            "nullable": true,
            "type": "string"
          }
        },
        "required": [
          "frequency",
          "keep"
        ],
        "type": "object"
      },
      "BackupScheduleRequest": {
        "properties": {
          "frequency": {
            "description": "daily, weekly or monthly; null turns the schedule off",
            "enum": [
              "daily",
              "weekly",
              "monthly"
            ],
            "nullable": true,
            "type": "string"
          },
          "keep": {
            "description": "scheduled backups to keep (default 7)",
            "nullable": true,
            "type": "integer"
          }
        },
        "type": "object"
      },
      "CacheEntry": {
        "properties": {
          "bytes": {
            "type": "integer"
          },
          "key": {
            "type": "string"
          },
          "lastUsed": {
            "format": "date-time",
            "type": "string"
          }
        },
        "type": "object"
      },
      "CachePruneResult": {
        "properties": {
          "freedBytes": {
            "type": "integer"
          },
          "remainingBytes": {
            "type": "integer"
          },
          "remainingEntries": {
            "type": "integer"
          },
          "removedEntries": {
            "type": "integer"
          }
        },
        "type": "object"
      },
      "CreateDatabase": {
        "properties": {
          "database": {
            "description": "postgres, redis or mysql (not supported yet)",
            "type": "string"
          },
          "name": {
            "description": "service name; Postgres, Redis or MySQL when null",
            "nullable": true,
            "type": "string"
          }
        },
        "required": [
          "database"
        ],
        "type": "object"
      },
      "CreateEnvironment": {
        "properties": {
          "from": {
            "description": "environment to copy (name or id); production when absent",
            "type": "string"
          },
          "name": {
            "type": "string"
          },
          "withData": {
            "description": "start the copy's postgres and redis databases from the source's latest backup (one is taken first when there is none); without it they start empty",
            "type": "boolean"
          }
        },
        "required": [
          "name"
        ],
        "type": "object"
      },
      "CreateProject": {
        "properties": {
          "name": {
            "type": "string"
          }
        },
        "required": [
          "name"
        ],
        "type": "object"
      },
      "CreateService": {
        "properties": {
          "configPath": {
            "type": "string"
          },
          "name": {
            "type": "string"
          },
          "rootDirectory": {
            "description": "folder of the upload the service is built from",
            "type": "string"
          }
        },
        "required": [
          "name"
        ],
        "type": "object"
      },
      "CronRun": {
        "properties": {
          "deploymentID": {
            "type": "string"
          },
          "endedAt": {
            "format": "date-time",
            "nullable": true,
            "type": "string"
          },
          "exitCode": {
            "nullable": true,
            "type": "integer"
          },
          "id": {
            "type": "string"
          },
          "reason": {
            "nullable": true,
            "type": "string"
          },
          "scheduledAt": {
            "description": "the minute the schedule named (UTC)",
            "format": "date-time",
            "type": "string"
          },
          "startedAt": {
            "format": "date-time",
            "nullable": true,
            "type": "string"
          },
          "status": {
            "enum": [
              "RUNNING",
              "SUCCEEDED",
              "FAILED",
              "SKIPPED",
              "INTERRUPTED"
            ],
            "type": "string"
          }
        },
        "type": "object"
      },
      "Database": {
        "properties": {
          "deployment": {
            "$ref": "#/components/schemas/Deployment"
          },
          "host": {
            "description": "where other services reach it: <name>.railway.internal",
            "type": "string"
          },
          "port": {
            "type": "integer"
          },
          "service": {
            "$ref": "#/components/schemas/Service"
          },
          "variables": {
            "description": "generated variables; sealed ones (the password and URLs) have no value",
            "items": {
              "$ref": "#/components/schemas/Variable"
            },
            "type": "array"
          }
        },
        "type": "object"
      },
      "DatabaseConnection": {
        "properties": {
          "database": {
            "enum": [
              "postgres",
              "redis",
              "mysql"
            ],
            "type": "string"
          },
          "databaseName": {
            "type": "string"
          },
          "host": {
            "description": "the TCP proxy's address; absent without a TCP proxy",
            "type": "string"
          },
          "password": {
            "type": "string"
          },
          "port": {
            "description": "the TCP proxy's host port; absent without a TCP proxy",
            "type": "integer"
          },
          "user": {
            "type": "string"
          }
        },
        "required": [
          "database",
          "user",
          "password"
        ],
        "type": "object"
      },
      "Deployment": {
        "properties": {
          "artifactKey": {
            "description": "content address of the built artifact; equal keys mean the same build",
            "nullable": true,
            "type": "string"
          },
          "commit": {
            "$ref": "#/components/schemas/GitCommit",
            "description": "for a deployment a git push started: the commit it was built from"
          },
          "createdAt": {
            "format": "date-time",
            "type": "string"
          },
          "environmentID": {
            "type": "string"
          },
          "history": {
            "items": {
              "$ref": "#/components/schemas/DeploymentEvent"
            },
            "type": "array"
          },
          "id": {
            "type": "string"
          },
          "provider": {
            "nullable": true,
            "type": "string"
          },
          "reason": {
            "nullable": true,
            "type": "string"
          },
          "replicas": {
            "items": {
              "$ref": "#/components/schemas/Replica"
            },
            "type": "array"
          },
          "rollbackOf": {
            "description": "the deployment whose artifact this one rolled back to",
            "nullable": true,
            "type": "string"
          },
          "serviceID": {
            "type": "string"
          },
          "serviceName": {
            "type": "string"
          },
          "startCommand": {
            "nullable": true,
            "type": "string"
          },
          "status": {
            "enum": [
              "QUEUED",
              "WAITING",
              "INITIALIZING",
              "BUILDING",
              "DEPLOYING",
              "SUCCESS",
              "FAILED",
              "CRASHED",
              "SLEEPING",
              "SKIPPED",
              "REMOVING",
              "REMOVED"
            ],
            "type": "string"
          },
          "trigger": {
            "type": "string"
          },
          "updatedAt": {
            "format": "date-time",
            "type": "string"
          },
          "url": {
            "nullable": true,
            "type": "string"
          }
        },
        "type": "object"
      },
      "DeploymentEvent": {
        "properties": {
          "at": {
            "format": "date-time",
            "type": "string"
          },
          "reason": {
            "nullable": true,
            "type": "string"
          },
          "status": {
            "type": "string"
          }
        },
        "type": "object"
      },
      "Domain": {
        "properties": {
          "certificate": {
            "description": "Where the HTTPS certificate comes from: files (given with the domain) or local (Switchyard's local authority); absent when HTTPS is off.",
            "enum": [
              "files",
              "local"
            ],
            "nullable": true,
            "type": "string"
          },
          "generated": {
            "type": "boolean"
          },
          "hostname": {
            "type": "string"
          },
          "httpsURL": {
            "nullable": true,
            "type": "string"
          },
          "path": {
            "description": "the path prefix routed; absent for the whole host",
            "nullable": true,
            "type": "string"
          },
          "targetPort": {
            "nullable": true,
            "type": "integer"
          },
          "url": {
            "type": "string"
          }
        },
        "type": "object"
      },
      "DomainRequest": {
        "properties": {
          "certificate": {
            "description": "PEM certificate chain, leaf first, covering hostname; with privateKey. Checked: PEM, key match, names, validity dates.",
            "type": "string"
          },
          "hostname": {
            "type": "string"
          },
          "path": {
            "description": "route only requests whose path starts with this prefix (e.g. /api); the longest prefix wins",
            "type": "string"
          },
          "privateKey": {
            "description": "PEM private key of certificate (unencrypted). Stored 0600 in the data directory and never returned.",
            "type": "string"
          },
          "targetPort": {
            "type": "integer"
          }
        },
        "required": [
          "hostname"
        ],
        "type": "object"
      },
      "Environment": {
        "properties": {
          "id": {
            "type": "string"
          },
          "name": {
            "type": "string"
          }
        },
        "type": "object"
      },
      "EnvironmentCopy": {
        "properties": {
          "environment": {
            "$ref": "#/components/schemas/Environment"
          },
          "from": {
            "$ref": "#/components/schemas/Environment"
          },
          "services": {
            "items": {
              "properties": {
                "copiedVariables": {
                  "items": {
                    "type": "string"
                  },
                  "type": "array"
                },
                "newCredentials": {
                  "description": "sealed variables given new generated values (a database's new credentials); absent from older servers",
                  "items": {
                    "type": "string"
                  },
                  "type": "array"
                },
                "sealedNotCopied": {
                  "description": "sealed variables left behind: set them again",
                  "items": {
                    "type": "string"
                  },
                  "type": "array"
                },
                "service": {
                  "type": "string"
                },
                "volume": {
                  "description": "mount path of the new, empty volume",
                  "type": "string"
                }
              },
              "type": "object"
            },
            "type": "array"
          },
          "data": {
            "description": "with withData: what each database service of the copy started from",
            "items": {
              "properties": {
                "backup": {
                  "description": "the source's backup restored; absent when the database started empty",
                  "type": "string"
                },
                "backupTakenNow": {
                  "description": "the source had no backup, so this one was taken for the copy",
                  "type": "boolean"
                },
                "database": {
                  "enum": [
                    "postgres",
                    "redis",
                    "mysql"
                  ],
                  "type": "string"
                },
                "message": {
                  "type": "string"
                },
                "restored": {
                  "type": "boolean"
                },
                "service": {
                  "type": "string"
                },
                "takenAt": {
                  "format": "date-time",
                  "type": "string"
                }
              },
              "type": "object"
            },
            "type": "array"
          }
        },
        "type": "object"
      },
      "EnvironmentDeletion": {
        "properties": {
          "environment": {
            "$ref": "#/components/schemas/Environment"
          },
          "removedDomains": {
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "removedBackups": {
            "description": "backups of its database services, removed with their files",
            "type": "integer"
          },
          "removedVolumes": {
            "type": "integer"
          },
          "stoppedDeployments": {
            "type": "integer"
          }
        },
        "type": "object"
      },
      "Error": {
        "properties": {
          "code": {
            "type": "string"
          },
          "message": {
            "type": "string"
          }
        },
        "required": [
          "code",
          "message"
        ],
        "type": "object"
      },
      "GitCommit": {
        "properties": {
          "author": {
            "type": "string"
          },
          "branch": {
            "type": "string"
          },
          "message": {
            "description": "the first line of the commit message",
            "type": "string"
          },
          "sha": {
            "type": "string"
          }
        },
        "type": "object"
      },
      "PullRequestEnvironment": {
        "properties": {
          "baseBranch": {
            "description": "the branch the PR merges into: the environment following it is copied (else production)",
            "type": "string"
          },
          "branch": {
            "description": "the PR's head branch",
            "type": "string"
          },
          "number": {
            "type": "integer"
          },
          "sha": {
            "description": "head commit; default: the branch's head in the project's repository",
            "type": "string"
          }
        },
        "required": [
          "number",
          "branch"
        ],
        "type": "object"
      },
      "Webhook": {
        "properties": {
          "path": {
            "type": "string"
          },
          "secret": {
            "description": "only in the answer that generated it",
            "type": "string"
          },
          "secretConfigured": {
            "type": "boolean"
          }
        },
        "required": [
          "path",
          "secretConfigured"
        ],
        "type": "object"
      },
      "WebhookResult": {
        "properties": {
          "action": {
            "type": "string"
          },
          "deploymentIDs": {
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "environment": {
            "$ref": "#/components/schemas/Environment"
          },
          "event": {
            "type": "string"
          },
          "message": {
            "type": "string"
          }
        },
        "required": [
          "event",
          "message",
          "deploymentIDs"
        ],
        "type": "object"
      },
      "GitPush": {
        "properties": {
          "updates": {
            "items": {
              "properties": {
                "new": {
                  "type": "string"
                },
                "old": {
                  "description": "all zeros for a new branch",
                  "type": "string"
                },
                "ref": {
                  "type": "string"
                }
              },
              "type": "object"
            },
            "type": "array"
          }
        },
        "required": [
          "updates"
        ],
        "type": "object"
      },
      "LogLine": {
        "properties": {
          "http": {
            "description": "lines of the http log: one request through the router (no headers, no query string)",
            "properties": {
              "bytesIn": {
                "type": "integer"
              },
              "bytesOut": {
                "type": "integer"
              },
              "durationMs": {
                "type": "number"
              },
              "host": {
                "type": "string"
              },
              "method": {
                "type": "string"
              },
              "path": {
                "type": "string"
              },
              "status": {
                "type": "integer"
              },
              "upstream": {
                "description": "the replica id; absent when the router answered itself",
                "nullable": true,
                "type": "string"
              }
            },
            "type": "object"
          },
          "message": {
            "type": "string"
          },
          "replica": {
            "nullable": true,
            "type": "string"
          },
          "seq": {
            "type": "integer"
          },
          "stream": {
            "enum": [
              "stdout",
              "stderr",
              "system",
              "http"
            ],
            "type": "string"
          },
          "timestamp": {
            "format": "date-time",
            "type": "string"
          }
        },
        "type": "object"
      },
      "Project": {
        "properties": {
          "createdAt": {
            "format": "date-time",
            "type": "string"
          },
          "environments": {
            "items": {
              "$ref": "#/components/schemas/Environment"
            },
            "type": "array"
          },
          "id": {
            "type": "string"
          },
          "name": {
            "type": "string"
          },
          "services": {
            "items": {
              "$ref": "#/components/schemas/Service"
            },
            "type": "array"
          }
        },
        "type": "object"
      },
      "Replica": {
        "properties": {
          "address": {
            "nullable": true,
            "type": "string"
          },
          "id": {
            "type": "string"
          },
          "lastExit": {
            "nullable": true,
            "type": "string"
          },
          "pid": {
            "nullable": true,
            "type": "integer"
          },
          "port": {
            "type": "integer"
          },
          "restarts": {
            "type": "integer"
          },
          "status": {
            "type": "string"
          },
          "usage": {
            "$ref": "#/components/schemas/ResourceUsage"
          }
        },
        "type": "object"
      },
      "ResourceLimits": {
        "properties": {
          "cpus": {
            "nullable": true,
            "type": "number"
          },
          "maxProcesses": {
            "nullable": true,
            "type": "integer"
          },
          "memoryBytes": {
            "nullable": true,
            "type": "integer"
          }
        },
        "type": "object"
      },
      "ResourceUsage": {
        "properties": {
          "cpuNanoseconds": {
            "type": "integer"
          },
          "memoryBytes": {
            "type": "integer"
          }
        },
        "type": "object"
      },
      "ServerInfo": {
        "properties": {
          "authorityCertificate": {
            "description": "Path on the server of the local certificate authority's certificate (trust it to avoid warnings); absent when HTTPS is off.",
            "nullable": true,
            "type": "string"
          },
          "baseDomain": {
            "type": "string"
          },
          "httpsURL": {
            "nullable": true,
            "type": "string"
          },
          "isolation": {
            "type": "string"
          },
          "routerURL": {
            "type": "string"
          },
          "version": {
            "type": "string"
          }
        },
        "type": "object"
      },
      "Service": {
        "properties": {
          "configPath": {
            "nullable": true,
            "type": "string"
          },
          "database": {
            "description": "the database a database service runs (postgres, redis); absent for an app",
            "nullable": true,
            "type": "string"
          },
          "id": {
            "type": "string"
          },
          "name": {
            "type": "string"
          },
          "rootDirectory": {
            "description": "folder of the upload the service is built from; null for the upload's root",
            "nullable": true,
            "type": "string"
          }
        },
        "type": "object"
      },
      "ServiceBranchLink": {
        "properties": {
          "branch": {
            "nullable": true,
            "type": "string"
          }
        },
        "type": "object"
      },
      "ServiceSettings": {
        "properties": {
          "defaultLimits": {
            "$ref": "#/components/schemas/ResourceLimits",
            "description": "the server's limits for a service that sets none (yard serve --replica-memory, --replica-cpus, --replica-processes)"
          },
          "egress": {
            "type": "boolean"
          },
          "limits": {
            "$ref": "#/components/schemas/ResourceLimits"
          },
          "rootDirectory": {
            "nullable": true,
            "type": "string"
          },
          "sleepApplication": {
            "description": "whether the service sleeps when idle; null when its config file's sleepApplication decides",
            "nullable": true,
            "type": "boolean"
          },
          "volume": {
            "$ref": "#/components/schemas/Volume"
          }
        },
        "type": "object"
      },
      "ServiceSettingsChange": {
        "description": "absent fields are left as they are",
        "properties": {
          "cpus": {
            "type": "number"
          },
          "egress": {
            "type": "boolean"
          },
          "maxProcesses": {
            "type": "integer"
          },
          "memoryBytes": {
            "type": "integer"
          },
          "rootDirectory": {
            "description": "folder of the upload the service is built from; \"\" or \".\" resets it to the root",
            "type": "string"
          },
          "sleepApplication": {
            "description": "on or off override the config file's sleepApplication at once; config defers to it again (a sleeping service set off wakes)",
            "enum": [
              "on",
              "off",
              "config"
            ],
            "type": "string"
          }
        },
        "type": "object"
      },
      "ServiceStatus": {
        "properties": {
          "backupProblem": {
            "description": "a database service's newest backup FAILED, or its restore check did: when and why; absent if not",
            "nullable": true,
            "type": "string"
          },
          "domains": {
            "items": {
              "$ref": "#/components/schemas/Domain"
            },
            "type": "array"
          },
          "latest": {
            "$ref": "#/components/schemas/Deployment"
          },
          "live": {
            "$ref": "#/components/schemas/Deployment"
          },
          "needsRedeploy": {
            "description": "why the live deployment should be redeployed (its variables changed); absent if not",
            "nullable": true,
            "type": "string"
          },
          "service": {
            "$ref": "#/components/schemas/Service"
          }
        },
        "type": "object"
      },
      "Status": {
        "properties": {
          "environment": {
            "$ref": "#/components/schemas/Environment"
          },
          "isolation": {
            "type": "string"
          },
          "project": {
            "$ref": "#/components/schemas/Environment"
          },
          "services": {
            "items": {
              "$ref": "#/components/schemas/ServiceStatus"
            },
            "type": "array"
          }
        },
        "type": "object"
      },
      "TCPProxy": {
        "properties": {
          "host": {
            "type": "string"
          },
          "hostPort": {
            "type": "integer"
          },
          "targetPort": {
            "type": "integer"
          }
        },
        "required": [
          "host",
          "hostPort",
          "targetPort"
        ],
        "type": "object"
      },
      "TCPProxyRequest": {
        "properties": {
          "targetPort": {
            "type": "integer"
          }
        },
        "required": [
          "targetPort"
        ],
        "type": "object"
      },
      "Variable": {
        "properties": {
          "buildSecret": {
            "description": "true for a build secret: visible to build steps only; its value is never returned",
            "nullable": true,
            "type": "boolean"
          },
          "key": {
            "type": "string"
          },
          "sealed": {
            "type": "boolean"
          },
          "value": {
            "description": "null for sealed variables and build secrets",
            "nullable": true,
            "type": "string"
          }
        },
        "type": "object"
      },
      "VariableChange": {
        "properties": {
          "buildSecrets": {
            "description": "keys of `set` that are build-only secrets",
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "delete": {
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "sealed": {
            "description": "keys of `set` that are sealed: never readable back, not copied to new environments",
            "items": {
              "type": "string"
            },
            "type": "array"
          },
          "set": {
            "additionalProperties": {
              "type": "string"
            },
            "type": "object"
          }
        },
        "required": [
          "set",
          "delete"
        ],
        "type": "object"
      },
      "Volume": {
        "properties": {
          "mountPath": {
            "type": "string"
          },
          "name": {
            "type": "string"
          }
        },
        "type": "object"
      },
      "VolumeRequest": {
        "properties": {
          "mountPath": {
            "type": "string"
          },
          "name": {
            "type": "string"
          }
        },
        "required": [
          "mountPath"
        ],
        "type": "object"
      }
    },
    "securitySchemes": {
      "bearer": {
        "scheme": "bearer",
        "type": "http"
      }
    }
  },
  "info": {
    "title": "Switchyard API",
    "version": "1"
  },
  "openapi": "3.0.3",
  "paths": {
    "/v1/cache": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/CacheEntry"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "The install cache's entries, most recently used first"
      }
    },
    "/v1/cache/prune": {
      "post": {
        "parameters": [
          {
            "description": "remove every entry",
            "in": "query",
            "name": "all",
            "required": false,
            "schema": {
              "type": "boolean"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/CachePruneResult"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Evict the install cache down to its size bound, or empty it"
      }
    },
    "/v1/deployments/{deployment}": {
      "get": {
        "parameters": [
          {
            "in": "path",
            "name": "deployment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "One deployment with its status history"
      }
    },
    "/v1/deployments/{deployment}/cancel": {
      "post": {
        "parameters": [
          {
            "description": "deployment id",
            "in": "path",
            "name": "deployment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Cancel a queued deployment (REMOVED at once) or stop a running build (the deployment ends REMOVED shortly after); 409 once it is deploying or live"
      }
    },
    "/v1/deployments/{deployment}/events": {
      "get": {
        "parameters": [
          {
            "in": "path",
            "name": "deployment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "text/event-stream": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Server-sent events: the deployment at each status change, until it settles"
      }
    },
    "/v1/deployments/{deployment}/logs": {
      "get": {
        "parameters": [
          {
            "in": "path",
            "name": "deployment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "kind",
            "required": false,
            "schema": {
              "enum": [
                "build",
                "deploy",
                "http"
              ],
              "type": "string"
            }
          },
          {
            "in": "query",
            "name": "follow",
            "required": false,
            "schema": {
              "type": "boolean"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/x-ndjson": {
                "schema": {
                  "$ref": "#/components/schemas/LogLine"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Log lines as newline-delimited JSON; follow streams until the log closes"
      }
    },
    "/v1/deployments/{deployment}/remove": {
      "post": {
        "parameters": [
          {
            "description": "deployment id",
            "in": "path",
            "name": "deployment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Remove a deployment: a queued or building one is cancelled, a running one (live, crashed, asleep) stops and stops routing; it ends REMOVED. 409 when it already ended"
      }
    },
    "/v1/deployments/{deployment}/rollback": {
      "post": {
        "parameters": [
          {
            "description": "deployment id",
            "in": "path",
            "name": "deployment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "A new deployment running this deployment's artifact, deploy settings and variables, with no build; 409 when its artifact is no longer retained"
      }
    },
    "/v1/health": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "security": [],
        "summary": "Liveness"
      }
    },
    "/v1/info": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ServerInfo"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Server information"
      }
    },
    "/v1/openapi.json": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "security": [],
        "summary": "This document"
      }
    },
    "/v1/projects": {
      "get": {
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Project"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "List projects"
      },
      "post": {
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateProject"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Project"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Create a project with a production environment"
      }
    },
    "/v1/projects/{project}": {
      "get": {
        "parameters": [
          {
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Project"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "One project"
      }
    },
    "/v1/projects/{project}/environments": {
      "get": {
        "parameters": [
          {
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Environment"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "List the project's environments"
      },
      "post": {
        "parameters": [
          {
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateEnvironment"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/EnvironmentCopy"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Create an environment as a copy of another: plain variables, build secrets and (empty) volumes; sealed variables, domains and deployments are not copied; with withData its databases start from the source's latest backup"
      }
    },
    "/v1/projects/{project}/environments/{environment}": {
      "delete": {
        "parameters": [
          {
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/EnvironmentDeletion"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Delete an environment (not the project's last): stops its deployments, removes its domains, variables, volumes' data, backups (with their files) and private network"
      }
    },
    "/v1/projects/{project}/environments/{environment}/databases": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateDatabase"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Database"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Add a database service (postgres, redis or mysql) and deploy it"
      }
    },
    "/v1/projects/{project}/environments/{environment}/deployments": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "build without the install cache (as NO_CACHE=1 does)",
            "in": "query",
            "name": "noCache",
            "required": false,
            "schema": {
              "type": "boolean"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/gzip": {
              "schema": {
                "format": "binary",
                "type": "string"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Deployment"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Upload a .tar.gz whose root railpack.json has a `services` map and deploy every service of it (missing services are created with the entry's root directory)"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/backup-schedule": {
      "put": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/BackupScheduleRequest"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/BackupList"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Set or turn off (null frequency) a database service's backup schedule"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/backups": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/BackupList"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "A database service's backups, newest first, with their restore checks, and its schedule"
      },
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Backup"
                }
              }
            },
            "description": "Created"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Back a database service up now (postgres: pg_dump and a base backup; redis: an RDB snapshot) and test-restore it into a throwaway server; answers when done"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/backups/restore": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/BackupRestoreRequest"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/BackupRestore"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Restore a backup into the service (its data is replaced), into a new database service (`into`), or, for postgres, to a moment (`to`)"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/branch": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ServiceBranchLink"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "The branch whose pushes deploy the service in this environment"
      },
      "put": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ServiceBranchLink"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ServiceBranchLink"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Link the service to a branch (null unlinks): pushes to it deploy the service"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/connect": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/DatabaseConnection"
                }
              }
            },
            "description": "the database's credentials and TCP proxy address; the response carries the password (Cache-Control: no-store)"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Connection parameters of a database service for `yard connect`, password included: the one route that returns a sealed value, on explicit request with the API token"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/cron-runs": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/CronRun"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "A cron service's recent runs (and skipped runs), newest first"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/deployments": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Deployment"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Recent deployments, newest first"
      },
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "create the service if missing",
            "in": "query",
            "name": "create",
            "required": false,
            "schema": {
              "type": "boolean"
            }
          },
          {
            "description": "config file for a newly created service",
            "in": "query",
            "name": "configPath",
            "required": false,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "build without the install cache (as NO_CACHE=1 does)",
            "in": "query",
            "name": "noCache",
            "required": false,
            "schema": {
              "type": "boolean"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/gzip": {
              "schema": {
                "format": "binary",
                "type": "string"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Upload a .tar.gz of the source and deploy it"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/domains": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Domain"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Domains"
      },
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/DomainRequest"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Domain"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Add a custom domain"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/domains/{hostname}": {
      "delete": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "the domain's hostname",
            "in": "path",
            "name": "hostname",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "the domain's path prefix; absent for the whole host",
            "in": "query",
            "name": "path",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Domain"
                  },
                  "type": "array"
                }
              }
            },
            "description": "the domains left"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Remove a domain"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/down": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Remove the latest deployment"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/redeploy": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "build without the install cache (as NO_CACHE=1 does)",
            "in": "query",
            "name": "noCache",
            "required": false,
            "schema": {
              "type": "boolean"
            }
          }
        ],
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Build and deploy the latest source again"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/resolved-variables": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "additionalProperties": {
                    "type": "string"
                  },
                  "type": "object"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "The variables a replica gets, references resolved, RAILWAY_* included"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/restart": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Start the live deployment's artifact on fresh replicas"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/settings": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ServiceSettings"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Limits, egress, volume and root directory"
      },
      "patch": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/ServiceSettingsChange"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ServiceSettings"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Change limits, egress or the root directory (applied from the next deployment)"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/sleep": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Deployment"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Put a service with sleepApplication to sleep now; its next request wakes it"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/tcp-proxies": {
      "delete": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "the service port whose proxy to close; absent for the service's only one",
            "in": "query",
            "name": "port",
            "required": false,
            "schema": {
              "type": "integer"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/TCPProxy"
                  },
                  "type": "array"
                }
              }
            },
            "description": "the TCP proxies left"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Close a TCP proxy and the connections open through it; a database's *_PUBLIC_URL variable goes too"
      },
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/TCPProxy"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "TCP proxies of the service"
      },
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/TCPProxyRequest"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/TCPProxy"
                  },
                  "type": "array"
                }
              }
            },
            "description": "the service's TCP proxies"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Expose a service port on a host port (allocated from yard serve --tcp-proxy-ports); a database gets its *_PUBLIC_URL variable (sealed)"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/variables": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Variable"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Variables; sealed values and build secrets are null"
      },
      "patch": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/VariableChange"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Variable"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Set and delete variables"
      }
    },
    "/v1/projects/{project}/environments/{environment}/services/{service}/volumes": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "service name",
            "in": "path",
            "name": "service",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/VolumeRequest"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ServiceSettings"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Add the service's volume"
      }
    },
    "/v1/projects/{project}/environments/{environment}/status": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Status"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Services, domains, live and latest deployments"
      }
    },
    "/v1/projects/{project}/environments/{environment}/variables": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Variable"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "The environment's shared variables (${{shared.KEY}}); sealed values are null"
      },
      "patch": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "environment id or name",
            "in": "path",
            "name": "environment",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/VariableChange"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "items": {
                    "$ref": "#/components/schemas/Variable"
                  },
                  "type": "array"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Set and delete shared variables; services referencing them show needsRedeploy in the status"
      }
    },
    "/v1/projects/{project}/git/push": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/GitPush"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            },
            "description": "streamed lines: what was deployed or skipped and why, then each deployment's progress"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Report pushed refs (the repository's post-receive hook calls this): deploys the services linked to each branch, skipping those whose watch patterns match no changed path"
      }
    },
    "/v1/projects/{project}/pull-requests": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/PullRequestEnvironment"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WebhookResult"
                }
              }
            },
            "description": "environment existed; redeploying"
          },
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WebhookResult"
                }
              }
            },
            "description": "environment created, its services deploying"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Open PR environment pr-<number> from a branch of the project's repository (as a pull_request opened event); redeploys it when it exists"
      }
    },
    "/v1/projects/{project}/webhooks/github": {
      "get": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Webhook"
                }
              }
            },
            "description": "the webhook"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "The webhook's path and whether the project has a secret (never the secret)"
      },
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "sha256=<hex HMAC-SHA256 of the raw body, keyed with the project's webhook secret>",
            "in": "header",
            "name": "X-Hub-Signature-256",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "description": "pull_request, push or ping; other events are ignored (202)",
            "in": "header",
            "name": "X-GitHub-Event",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "description": "GitHub's event payload: action, number, pull_request.head.ref/sha, pull_request.base.ref; or ref, before, after",
                "type": "object"
              }
            }
          },
          "required": true
        },
        "responses": {
          "200": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WebhookResult"
                }
              }
            },
            "description": "handled"
          },
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WebhookResult"
                }
              }
            },
            "description": "PR environment created"
          },
          "202": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WebhookResult"
                }
              }
            },
            "description": "event or action ignored"
          },
          "401": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "security": [],
        "summary": "GitHub webhook delivery: pull_request (opened, reopened, synchronize: open or redeploy pr-<n>; closed: delete it with every process, network and volume), push (deploy the linked services from a commit already in the project's repository), ping. Authenticated by X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the project's webhook secret), not by the bearer token; unsigned or wrongly signed deliveries get 401 and change nothing."
      }
    },
    "/v1/projects/{project}/webhooks/github/secret": {
      "post": {
        "parameters": [
          {
            "description": "project id or name",
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Webhook"
                }
              }
            },
            "description": "the new secret, shown once"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Generate a new webhook secret; this answer is the only one that contains it"
      }
    },
    "/v1/projects/{project}/services": {
      "post": {
        "parameters": [
          {
            "in": "path",
            "name": "project",
            "required": true,
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateService"
              }
            }
          },
          "required": true
        },
        "responses": {
          "201": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Service"
                }
              }
            },
            "description": "OK"
          },
          "default": {
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Error"
                }
              }
            },
            "description": "error"
          }
        },
        "summary": "Create a service"
      }
    }
  },
  "security": [
    {
      "bearer": []
    }
  ]
}
"""#
}
