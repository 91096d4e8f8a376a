import Foundation
import Testing
import YardClient
import YardCore
import YardImage
import YardRuntime
import YardTestSupport

/// Issue 16's remaining providers end to end (ruby, elixir without hex packages, java with
/// javac; swift fails before any step: Debian 12 has no `swiftlang`), the app's apt packages
/// in its environment, and two builds that need one missing environment building it once.
extension ProviderImageEndToEndTests {
    static let rubyApp = #"""
        require "socket"
        require "rbconfig"
        server = TCPServer.new("0.0.0.0", Integer(ENV.fetch("PORT")))
        loop do
          client = server.accept
          client.readpartial(4096) rescue nil
          exe = File.join(RbConfig::CONFIG["bindir"], RbConfig::CONFIG["ruby_install_name"])
          body = "ruby #{RUBY_VERSION} exe=#{exe} host=#{File.exist?(ENV.fetch("HOST_ONLY"))}\n"
          client.write("HTTP/1.1 200 OK\r\nContent-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
          client.close
        end
        """#

    static let elixirMix = #"""
        defmodule Web.MixProject do
          use Mix.Project
          def project, do: [app: :web, version: "0.1.0", elixir: "~> 1.14", deps: []]
          def application, do: [mod: {Web, []}, extra_applications: [:logger]]
        end
        """#

    static let elixirApp = #"""
        defmodule Web do
          use Application

          def start(_type, _args) do
            port = String.to_integer(System.fetch_env!("PORT"))
            {:ok, socket} = :gen_tcp.listen(port, [:binary, packet: :raw, active: false, reuseaddr: true])
            Task.start_link(fn -> serve(socket) end)
          end

          defp serve(socket) do
            {:ok, client} = :gen_tcp.accept(socket)
            _ = :gen_tcp.recv(client, 0, 1000)
            host = File.exists?(System.fetch_env!("HOST_ONLY"))
            body = "elixir #{System.version()} otp #{System.otp_release()} host=#{host}\n"
            :gen_tcp.send(client, "HTTP/1.1 200 OK\r\nContent-Length: #{byte_size(body)}\r\nConnection: close\r\n\r\n" <> body)
            :gen_tcp.close(client)
            serve(socket)
          end
        end
        """#

    static let javaApp = #"""
        package web;

        import com.sun.net.httpserver.HttpServer;
        import java.net.InetSocketAddress;

        public class Main {
            public static void main(String[] arguments) throws Exception {
                HttpServer server = HttpServer.create(new InetSocketAddress(Integer.parseInt(System.getenv("PORT"))), 0);
                server.createContext("/", exchange -> {
                    byte[] body = ("java " + System.getProperty("java.version") + " home=" + System.getProperty("java.home")
                        + " host=" + new java.io.File(System.getenv("HOST_ONLY")).exists() + "\n").getBytes();
                    exchange.sendResponseHeaders(200, body.length);
                    exchange.getResponseBody().write(body);
                    exchange.close();
                });
                server.start();
            }
        }
        """#

    /// Cold, the ruby (build-essential), elixir (Erlang) and JDK environments are minutes of apt:
    /// the slow tier, as php, C and rust (measured: ruby 213 s, elixir 34 s, JDK 67 s, under load).
    @Test(
        "ruby, elixir without hex packages and java with javac build into images of Debian 12's toolchains and answer through the router",
        SlowTier.only("minutes of apt cold"),
        .timeLimit(.minutes(25)))
    func rubyElixirJavaBuildImages() async throws {
        // This machine has no ruby, elixir or erl; it may have a JDK: every app's `host=false`
        // (this machine's files are not in its root) proves each runs in its image.
        for tool in ["ruby", "elixir", "erl"] {
            #expect(SystemTool.locate(tool) == nil, "this machine has \(tool), so the test proves less")
        }
        try await Self.withServer { server, _ in
            let ruby = try await Self.deploy(server, "rb", files: ["Gemfile": "source \"https://rubygems.org\"\n", "app.rb": Self.rubyApp])
            #expect(ruby.body == "ruby 3.1.2 exe=/usr/bin/ruby3.1 host=false\n", "\(ruby.body)")
            #expect(ruby.log.contains("toolchain ruby: building with Debian 12's ruby 3.1.2"), "\(ruby.log)")

            let elixir = try await Self.deploy(server, "ex", files: ["mix.exs": Self.elixirMix, "lib/web.ex": Self.elixirApp])
            #expect(elixir.body == "elixir 1.14.0 otp 25 host=false\n", "\(elixir.body)")
            #expect(elixir.log.contains("mix.exs lists no dependencies: hex and rebar are not installed"), "\(elixir.log)")

            let java = try await Self.deploy(server, "jv", files: ["railpack.json": #"{"provider": "java"}"#, "Main.java": Self.javaApp])
            #expect(java.body.hasPrefix("java 17.0.") && java.body.hasSuffix(" home=/usr/lib/jvm/java-17-openjdk-amd64 host=false\n"), "\(java.body)")
            #expect(java.log.contains("building with javac (no pom.xml or Gradle build); main class web.Main"), "\(java.log)")
        }
    }

    /// Swift: Debian 12 has no `swiftlang` (its `swift` package is OpenStack's object store),
    /// so a Swift app fails before any step, saying so, rather than using this machine's /opt/swift.
    static func swiftFailsBeforeAnyStep(_ server: YardServer) async throws {
        let folder = try await project(server, "sw", files: [
            "Package.swift": "// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: \"web\", targets: [.executableTarget(name: \"web\")])\n",
            "Sources/web/main.swift": "print(\"hello\")\n",
        ])
        let failed = try await server.yard(["up"], in: folder)
        let deployment = try await newest(server, "sw")
        #expect(failed.status != 0 && deployment.status == .failed, "\(failed.outputTail)")
        #expect(
            deployment.reason?.contains("swift") == true
                && deployment.reason?.contains("which this machine cannot provide: mise cannot download here; versions available: none (Debian 12 has no package for it)") == true,
            "\(deployment.reason ?? "")")
        #expect(!failed.stdout.contains("STEP "), "a step ran:\n\(failed.outputTail)")
    }

    /// Two deploys that need the same missing environment (a shell app with busybox from
    /// railpack.json `deploy.aptPackages`) at once: one makes it, the other waits and finds it.
    static func concurrentBuildsShareAnEnvironment(_ server: YardServer, store: ImageStore) async throws {
        let files = [
            "railpack.json": #"{"deploy": {"aptPackages": ["busybox"]}}"#,
            "start.sh": "REPLY=\"$(busybox | head -n 1 | cut -d ' ' -f 1-2)\" exec perl server.pl\n",
            "server.pl": TestImages.httpServerScript,
        ]
        let folders = [try await project(server, "twa", files: files), try await project(server, "twb", files: files)]
        async let first = server.yard(["up"], in: folders[0])
        async let second = server.yard(["up"], in: folders[1])
        let ups = try await [first, second]
        for (name, up) in zip(["twa", "twb"], ups) {
            #expect(up.status == 0, "\(name): \(up.outputTail)")
            let answer = try await server.eventually(host: "\(name)-\(name).localhost") { status, _ in status == 200 }
            #expect(answer.body.hasPrefix("BusyBox v1.35.0 uid=0 cwd=/app"), "\(name): \(answer)")
        }
        let made = ups.filter { $0.stdout.contains(" built in ") || $0.stdout.contains("loaded from this machine's cache") }
        let found = ups.filter { $0.stdout.contains("is in the store") }
        #expect(made.count == 1 && found.count == 1, "the environment was made \(made.count) times:\n\(ups.map(\.outputTail).joined(separator: "\n----\n"))")
        print("twins: \(ups.contains { $0.stdout.contains("waiting for another build") } ? "the second build waited" : "the builds did not overlap")")
        let environments = try await store.run(.podman, ["images", "--noheading", "--format", "{{.Repository}}"]).standardOutput
        #expect(environments.contains("localhost/yard-env/shell"), "\(environments)")
    }
}
