import Foundation
import YardCore
import YardImage

/// Images for tests: a store in a folder of the test's own (`<data>/images` of a test
/// server, or a scratch folder), holding `debian:bookworm-slim` imported from the
/// machine's debootstrap cache (made on first use, about 30 s).
public enum TestImages {
    /// Fails with the install command when an image tool is missing.
    public static func requireTools() throws {
        for tool in ["buildah", "podman", "skopeo", "debootstrap", "runc"] where !hasTool(tool) {
            throw YardError(.unavailable, "this test needs \(tool): run scripts/setup.sh (or apt-get install -y buildah podman runc skopeo debootstrap uidmap)")
        }
    }

    /// A prepared store in `directory` with `debian:bookworm-slim` in it.
    public static func storeWithDebian(in directory: URL) async throws -> ImageStore {
        try requireTools()
        let store = ImageStore(configuration: .init(directory: directory))
        try store.prepare()
        if try await store.inspect("docker.io/library/debian:bookworm-slim") == nil {
            _ = try await store.importDebootstrap(suite: "bookworm")
        }
        return store
    }

    /// A small HTTP server for images made from Debian's minbase, which has perl but no
    /// python or busybox: it answers every request with `$REPLY` (default `hello`), its uid,
    /// working directory and the path, on `$PORT` (default 8080), and exits on SIGTERM.
    public static let httpServerScript = #"""
        use strict; use IO::Socket::INET; use Cwd;
        my $port = $ENV{PORT} || 8080;
        my $server = IO::Socket::INET->new(LocalAddr => '0.0.0.0', LocalPort => $port, Listen => 128, ReuseAddr => 1)
            or die "cannot listen on $port: $!";
        $SIG{TERM} = sub { exit 0 };
        $| = 1; print "listening on $port\n";
        while (my $client = $server->accept) {
            my $request = <$client> // ''; my $length = 0;
            while (my $line = <$client>) { $length = $1 if $line =~ /^content-length:\s*(\d+)/i; last if $line =~ /^\r?\n$/ }
            read($client, my $ignored, $length) if $length;
            my ($path) = $request =~ m{^\S+ (\S+)}; $path //= '';
            my $body = ($ENV{REPLY} // 'hello') . " uid=$< cwd=" . getcwd() . " path=$path\n";
            print $client "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body)
                . "\r\nConnection: close\r\n\r\n$body";
            close $client;
        }
        """#

    /// Writes a build context at `directory`: `server.pl` (`httpServerScript`) and a
    /// Dockerfile `FROM debian:bookworm-slim` that runs it as `user` (nil: root), with
    /// `extra` Dockerfile lines before the CMD.
    public static func writeHTTPServerContext(at directory: URL, user: String? = "1000", extra: [String] = []) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try httpServerScript.write(to: directory.appendingPathComponent("server.pl"), atomically: true, encoding: .utf8)
        var lines = ["FROM debian:bookworm-slim", "COPY server.pl /srv/server.pl", "WORKDIR /srv", "EXPOSE 8080"]
        lines += extra
        if let user { lines.append("USER \(user)") }
        lines.append("CMD [\"perl\", \"/srv/server.pl\"]")
        try (lines.joined(separator: "\n") + "\n").write(
            to: directory.appendingPathComponent("Dockerfile"), atomically: true, encoding: .utf8)
    }

    /// Runs `body` with a store holding debian:bookworm-slim in a scratch folder (the second
    /// argument, for the test's own files), then unmounts and removes it all, also on failure.
    public static func withStore(_ body: (ImageStore, URL) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("yard-images-\(UUID().uuidString)")
        let store = ImageStore(configuration: .init(directory: directory.appendingPathComponent("images")))
        do {
            _ = try await storeWithDebian(in: store.configuration.directory)
            try await body(store, directory)
        } catch {
            await remove(store, andFolder: directory)
            throw error
        }
        await remove(store, andFolder: directory)
    }

    /// Unmounts the store's mounts and removes `directory` (a test's scratch folder).
    public static func remove(_ store: ImageStore, andFolder directory: URL) async {
        await store.unmountAll()
        try? FileManager.default.removeItem(at: directory)
    }

    private static func hasTool(_ name: String) -> Bool {
        ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }
}
