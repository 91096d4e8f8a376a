import Foundation
import YardConfig
import YardCore

/// The Debian packages an app asks for on top of its provider's (Railpack's `buildAptPackages`
/// and `deploy.aptPackages`, `RAILPACK_BUILD_APT_PACKAGES`, `RAILPACK_DEPLOY_APT_PACKAGES`, and
/// Nixpacks' `NIXPACKS_APT_PKGS`): installed into the environment image, so they are part of
/// its name, and the build steps and the app both see them (the app runs in that image).
extension ProviderEnvironment {
    /// The variables whose values list apt packages, separated by spaces or commas.
    public static let aptPackageVariables = ["RAILPACK_BUILD_APT_PACKAGES", "RAILPACK_DEPLOY_APT_PACKAGES", "NIXPACKS_APT_PKGS"]

    /// The packages `railpack` and `variables` ask for, in order, each once. A word that is
    /// not a Debian package name is refused, naming where it came from (a variable's value is
    /// not repeated: any variable may hold something private).
    public static func requestedAptPackages(railpack: RailpackConfig?, variables: [String: String]) throws(YardError) -> [String] {
        var packages: [String] = []
        func add(_ words: [String], from source: String, echo: Bool) throws(YardError) {
            for word in words where !word.isEmpty {
                guard isDebianPackageName(word) else {
                    let what = echo ? "\"\(word)\"" : "a word"
                    throw YardError(
                        .invalidConfig,
                        "\(source) lists \(what) that is not a Debian package name (lowercase letters, digits, '+', '-' and '.', "
                            + "two characters at least, no version or options): fix it and deploy again")
                }
                if !packages.contains(word) { packages.append(word) }
            }
        }
        if let railpack {
            try add(railpack.buildAptPackages, from: "railpack.json buildAptPackages", echo: true)
            try add(railpack.deploy?.aptPackages ?? [], from: "railpack.json deploy.aptPackages", echo: true)
        }
        for name in aptPackageVariables {
            guard let value = variables[name] else { continue }
            let words = value.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
            try add(words, from: "the variable \(name)", echo: false)
        }
        return packages
    }

    /// This environment with `extra` packages installed too (a new environment image).
    public func adding(aptPackages extra: [String]) -> ProviderEnvironment {
        var environment = self
        for package in extra where !environment.packages.contains(package) {
            environment.packages.append(package)
        }
        return environment
    }

    /// Debian policy's package names: `[a-z0-9][a-z0-9+.-]+`.
    static func isDebianPackageName(_ word: String) -> Bool {
        word.wholeMatch(of: /[a-z0-9][a-z0-9+.\-]+/) != nil
    }
}
