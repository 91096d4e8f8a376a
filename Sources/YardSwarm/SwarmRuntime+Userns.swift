/// Whether the engine remaps user ids (`userns-remap`): without it an image's root user is the
/// node's root, and a task that escapes its container is root on the node.
extension SwarmRuntime {
    /// A warning naming the fix when the manager's engine runs without `userns-remap`; nil
    /// when it has it (or does not say). The other nodes' engines cannot be asked through the
    /// manager: each needs the same setting.
    public static func usernsWarning(socketPath: String) async -> String? {
        struct Info: Decodable { var SecurityOptions: [String]? }
        guard let info = try? await DockerEngine(socketPath: socketPath).get("/info", as: Info.self), let options = info.SecurityOptions
        else { return nil }
        if options.contains(where: { $0.split(separator: ",").contains("name=userns") }) { return nil }
        return "the Docker engine on \(socketPath) runs without userns-remap: an image's root user is this node's root. "
            + "Set \"userns-remap\": \"default\" in /etc/docker/daemon.json on every node and restart dockerd"
    }
}
