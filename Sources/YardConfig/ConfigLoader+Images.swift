import YardCore

extension ConfigLoader {
    /// The settings of a service that has no config file (an image service: Railway reads
    /// no railway.toml for images): the defaults with the service's own settings on top.
    public static func serviceSettings(build: BuildOverrides, deploy: DeployOverrides) -> ResolvedConfig {
        let settings = ConfigFile.merge([], serviceBuild: build, serviceDeploy: deploy)
        return ResolvedConfig(build: settings.build, deploy: settings.deploy, configFile: nil)
    }
}
