import Foundation
import Testing
import YardCore
import YardStore

@testable import YardControl

/// What the creation of a PR environment says about sealed values, from a real copy.
@Suite("PR environment copy notes")
struct PullRequestCopyNotesTests {
    @Test("a database's new credentials and the sealed variables left behind are named, never their values")
    func notes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-pr-notes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let (project, production) = try store.createProject(name: "shop")
        let web = try store.createService(projectID: project.id, name: "web")
        _ = try store.createService(projectID: project.id, name: "worker")
        try store.changeVariables(
            serviceID: web.id, environmentID: production.id, set: ["API_KEY": "abc-secret", "PLAIN": "p"], delete: [],
            sealed: ["API_KEY"])
        let password = DatabaseKind.makePassword()
        _ = try store.createDatabaseService(
            projectID: project.id, environmentID: production.id, name: "Postgres", kind: .postgres,
            variables: DatabaseKind.postgres.variables(host: "postgres.railway.internal", port: 5432, password: password))
        let copy = try store.createEnvironment(projectID: project.id, name: "pr-7", copying: production.id)

        let notes = Orchestrator.copyNotes(copy)
        #expect(
            notes == ["Postgres: new credentials (sealed)", "web: sealed variables not copied, set them again: API_KEY"], "\(notes)")
        #expect(!notes.joined().contains(password) && !notes.joined().contains("abc-secret"))
    }
}
