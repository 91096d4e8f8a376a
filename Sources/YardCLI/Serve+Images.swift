import ArgumentParser
import Foundation

extension Serve {
    /// `--registry-mirror`: an http(s) URL with a host, nothing else.
    static func registryMirrorURL(_ text: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil,
            url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil
        else {
            throw ValidationError("--registry-mirror '\(text)' is not a registry URL: give http(s)://HOST[:PORT], e.g. http://10.0.0.5:5000")
        }
        return url
    }
}
