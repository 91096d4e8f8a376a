import Foundation
import YardCore

/// The programs the providers run, with how to get each on Debian 12.
extension Toolchain {
    static let python = Toolchain(name: "python", executable: "python3", installHint: "apt-get install -y python3 python3-venv")
    static let node = Toolchain(name: "node", executable: "node", installHint: "apt-get install -y nodejs npm")
    static let npm = Toolchain(name: "npm", executable: "npm", installHint: "apt-get install -y npm")
    static let yarn = Toolchain(name: "yarn", executable: "yarn", installHint: "npm install -g yarn")
    static let pnpm = Toolchain(name: "pnpm", executable: "pnpm", installHint: "npm install -g pnpm")
    static let bun = Toolchain(name: "bun", executable: "bun", installHint: "npm install -g bun")
    static let go = Toolchain(name: "go", executable: "go", versionArguments: ["version"], installHint: "apt-get install -y golang-go")
    static let java = Toolchain(name: "java", executable: "java", installHint: "apt-get install -y default-jdk-headless")
    static let maven = Toolchain(name: "maven", executable: "mvn", installHint: "apt-get install -y maven")
    static let gradle = Toolchain(name: "gradle", executable: "gradle", installHint: "apt-get install -y gradle")
    static let rust = Toolchain(name: "rust", executable: "cargo", installHint: "apt-get install -y cargo")
    static let ruby = Toolchain(name: "ruby", executable: "ruby", installHint: "apt-get install -y ruby-full")
    static let bundler = Toolchain(name: "bundler", executable: "bundle", installHint: "apt-get install -y ruby-bundler")
    static let elixir = Toolchain(name: "elixir", executable: "elixir", installHint: "apt-get install -y elixir erlang-dev")
    static let erlang = Toolchain(
        name: "erlang", executable: "erl",
        versionArguments: ["-noshell", "-eval", "io:format(\"~s~n\", [erlang:system_info(otp_release)]), halt()."],
        installHint: "apt-get install -y erlang")
    static let deno = Toolchain(
        name: "deno", executable: "deno", installHint: "curl -fsSL https://deno.land/install.sh | DENO_INSTALL=/usr/local sh")
    static let dotnet = Toolchain(name: "dotnet", executable: "dotnet", installHint: "apt-get install -y dotnet-sdk-8.0")
    static let gleam = Toolchain(
        name: "gleam", executable: "gleam",
        installHint:
            "curl -fsSL https://github.com/gleam-lang/gleam/releases/download/v1.9.1/gleam-v1.9.1-x86_64-unknown-linux-musl.tar.gz | tar xz -C /usr/local/bin"
    )
    static let cmake = Toolchain(name: "cmake", executable: "cmake", installHint: "apt-get install -y cmake build-essential")
    static let meson = Toolchain(name: "meson", executable: "meson", installHint: "apt-get install -y meson ninja-build build-essential")
    static let swift = Toolchain(
        name: "swift", executable: "swift",
        installHint: "curl -fsSL https://download.swift.org/swiftly/linux/swiftly-$(uname -m).tar.gz | tar xz && ./swiftly init")

    static func php(withComposer: Bool) -> Toolchain {
        Toolchain(name: "php", executable: "php", installHint: withComposer ? "apt-get install -y php-cli composer" : "apt-get install -y php-cli")
    }
    static let composer = Toolchain(name: "composer", executable: "composer", installHint: "apt-get install -y composer")
}
