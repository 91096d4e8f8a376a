import Testing
import YardCore

@Suite("variable references")
struct VariableResolverTests {
    /// Services' variables by owner; `shared` holds the environment's shared ones.
    static func resolver(_ variables: [String: [String: String]]) -> VariableResolver {
        VariableResolver { name in
            guard let owner = variables[name.owner] else {
                return name.owner == VariableResolver.sharedOwner ? .missingVariable : .missingService
            }
            return owner[name.key].map { .value($0) } ?? .missingVariable
        }
    }

    static let project: [String: [String: String]] = [
        "web": [
            "DATABASE_URL": "${{Postgres.DATABASE_URL}}",
            "GREETING": "hello ${{shared.NAME}} from ${{ REGION }}",
            "REGION": "eu",
            "API": "https://${{api.HOST}}:${{api.PORT}}/v1",
        ],
        "Postgres": [
            "PGUSER": "postgres", "PGPASSWORD": "s3cret", "PGHOST": "postgres.railway.internal",
            "DATABASE_URL": "postgresql://${{PGUSER}}:${{PGPASSWORD}}@${{PGHOST}}:5432/railway",
        ],
        "api": ["HOST": "${{shared.API_HOST}}", "PORT": "8080"],
        "shared": ["NAME": "${{WHO}}", "WHO": "world", "API_HOST": "api.internal"],
    ]

    @Test("references resolve anywhere in a value, mixed with text, through chains across services and shared variables")
    func chains() throws {
        var resolver = Self.resolver(Self.project)
        #expect(try resolver.value(of: .init(owner: "web", key: "DATABASE_URL"))
                == "postgresql://postgres:s3cret@postgres.railway.internal:5432/railway")
        #expect(try resolver.value(of: .init(owner: "web", key: "GREETING")) == "hello world from eu")
        #expect(try resolver.value(of: .init(owner: "web", key: "API")) == "https://api.internal:8080/v1")
        #expect(try resolver.resolve("plain text stays", as: .init(owner: "web", key: "X")) == "plain text stays")
    }

    @Test(arguments: [
        (["web": ["A": "${{B}}", "B": "x${{A}}"]], "web", "A",
         "variable B of service web is part of a reference cycle: web.A → web.B → web.A"),
        (["web": ["A": "${{A}}"]], "web", "A", "variable A of service web is part of a reference cycle: web.A → web.A"),
        (["web": ["A": "${{api.B}}"], "api": ["B": "${{web.A}}"]], "web", "A",
         "variable B of service api is part of a reference cycle: web.A → api.B → web.A"),
        (["web": ["URL": "${{Postgres.DATABASE_URL}}"]], "web", "URL",
         "variable URL of service web references ${{Postgres.DATABASE_URL}}, but the project has no service named Postgres"),
        (["web": ["URL": "${{api.MISSING}}"], "api": [:]], "web", "URL",
         "variable URL of service web references ${{api.MISSING}}, but api has no variable MISSING"),
        (["web": ["URL": "x ${{NOPE}}"]], "web", "URL", "variable URL of service web references ${{NOPE}}, which service web does not define"),
        (["web": ["URL": "${{shared.NOPE}}"]], "web", "URL",
         "variable URL of service web references ${{shared.NOPE}}, but the environment has no shared variable NOPE (yard variables --shared --set NOPE=…)"),
        (["web": ["A": "${{api.B}}"], "api": ["B": "${{C}}"]], "web", "A", "variable B of service api references ${{C}}, which service api does not define"),
    ])
    func errors(variables: [String: [String: String]], owner: String, key: String, message: String) {
        var resolver = Self.resolver(variables)
        let error = #expect(throws: YardError.self) { try resolver.value(of: .init(owner: owner, key: key)) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message == message)
    }
}
