import Testing
import YardCore

@testable import YardConfig

@Suite("Procfile")
struct ProcfileTests {
    @Test func parsesProcessesSkippingCommentsAndBlankLines() throws {
        let text = """
            # processes
            web: bundle exec puma -C config/puma.rb

            worker:bundle exec sidekiq   \r
              release_phase : rake db:migrate
            """
        let procfile = try Procfile.parse(text)
        #expect(
            procfile.processes == [
                "web": "bundle exec puma -C config/puma.rb",
                "worker": "bundle exec sidekiq",
                "release_phase": "rake db:migrate",
            ]
        )
        #expect(procfile.web == "bundle exec puma -C config/puma.rb")
    }

    @Test func commandMayContainColons() throws {
        let procfile = try Procfile.parse("web: node server.js --listen 0.0.0.0:$PORT\r\n")
        #expect(procfile.web == "node server.js --listen 0.0.0.0:$PORT")
    }

    @Test func noWebProcess() throws {
        #expect(try Procfile.parse("worker: ./run\n").web == nil)
        #expect(try Procfile.parse("").processes.isEmpty)
    }

    @Test(arguments: [
        (
            "web: ok\n\nthis line has no colon\n",
            "Procfile line 3: expected 'name: command' (e.g. 'web: npm start'), found no ':'"
        ),
        ("web:\n", "Procfile line 1: process 'web' has no command"),
        (
            "# c\nmy web: run\n",
            "Procfile line 2: process name 'my web' must be letters, digits, '_' or '-' (e.g. 'web: npm start')"
        ),
        (": run\n", "Procfile line 1: process name '' must be letters, digits, '_' or '-' (e.g. 'web: npm start')"),
        ("web: a\r\nweb: b\r\n", "Procfile line 2: process 'web' is defined twice; keep one line per process"),
    ])
    func malformedLinesNameTheLine(text: String, message: String) {
        let error = #expect(throws: YardError.self) { try Procfile.parse(text) }
        #expect(error?.code == .invalidConfig)
        #expect(error?.message == message)
    }
}
