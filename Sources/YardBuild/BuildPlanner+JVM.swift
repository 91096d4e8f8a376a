import Foundation
import YardCore

/// The java provider: Maven (pom.xml, mvnw) or Gradle (gradlew, build.gradle), started
/// with `java -jar` on the jar the build produced.
extension BuildPlanner {
    func java(detectedFrom: String) throws(YardError) -> ProviderPlan {
        var plan = ProviderPlan(provider: "java", detectedFrom: detectedFrom, startHint: "build an executable jar")
        plan.tools = [ToolRequirement(.java)]
        let pom = try source.entries().first { $0.hasPrefix("pom.") && source.isFile($0) }
        let gradle = ["gradlew", "build.gradle", "build.gradle.kts"].contains(where: source.isFile)
        if pom == nil, !gradle, let main = try javaMainClass() {
            // No Maven or Gradle build (a java provider chosen in railpack.json): the JDK's javac.
            plan.buildCommands = ["javac -d build/classes $(find . -name '*.java' -not -path './build/*')"]
            plan.startCommand = "java $JAVA_OPTS -cp build/classes \(main)"
            plan.notes.append("building with javac (no pom.xml or Gradle build); main class \(main)")
            return plan
        }
        // Like Railpack: a Gradle wrapper wins over a pom.
        if let pom, !source.isFile("gradlew") {
            let wrapper = source.isFile("mvnw")
            plan.buildCommands = [wrapper ? "chmod +x mvnw && ./mvnw -B -DskipTests package" : "mvn -B -DskipTests package"]
            if !wrapper { plan.tools.append(ToolRequirement(.maven, phase: .build)) }
            plan.notes.append("building with Maven\(wrapper ? " (mvnw)" : "")")
            plan.buildFailureHint =
                "Maven downloads plugins and dependencies from Maven Central (repo.maven.apache.org)"
                + (wrapper ? ", and mvnw downloads Maven itself," : "")
                + " which may be unreachable from this machine; only what is already in ~/.m2 can be used"
            let text = source.optionalText(pom) ?? ""
            let port = text.contains("spring-boot") ? " -Dserver.port=$PORT" : ""
            if pom == "pom.xml", let packaging = Self.mavenPackaging(text), packaging == "pom" {
                plan.notes.append("pom.xml is an aggregator (packaging pom): set deploy.startCommand to run one module's jar")
            } else if pom == "pom.xml", let jar = Self.mavenArtifact(text) {
                plan.startCommand = "java $JAVA_OPTS\(port) -jar \("target/\(jar)".shellQuoted)"
            } else {
                plan.startCommand = "java $JAVA_OPTS\(port) -jar \(Self.firstJar(in: "target"))"
            }
        } else {
            let wrapper = source.isFile("gradlew")
            plan.buildCommands = [wrapper ? "chmod +x gradlew && ./gradlew build -x test" : "gradle build -x test"]
            if !wrapper { plan.tools.append(ToolRequirement(.gradle, phase: .build)) }
            plan.notes.append("building with Gradle\(wrapper ? " (gradlew)" : "")")
            plan.buildFailureHint =
                (wrapper ? "gradlew downloads the Gradle distribution from services.gradle.org, and " : "")
                + "Gradle downloads plugins and dependencies from the Gradle Plugin Portal and Maven Central, "
                + "which may be unreachable from this machine"
            let text = (source.optionalText("build.gradle") ?? "") + (source.optionalText("build.gradle.kts") ?? "")
            let port = text.contains("org.springframework.boot") ? " -Dserver.port=$PORT" : ""
            plan.startCommand = "java $JAVA_OPTS\(port) -jar \(Self.firstJar(in: "build/libs"))"
        }
        return plan
    }

    /// The class with `static void main` among the root's `.java` files, with its package.
    func javaMainClass() throws(YardError) -> String? {
        for name in try source.entries().sorted() where name.hasSuffix(".java") {
            guard let text = source.optionalText(name), text.contains("static void main(") else { continue }
            let className = String(name.dropLast(".java".count))
            guard let package = text.firstMatch(of: /(?m)^\s*package\s+([A-Za-z0-9_.]+)\s*;/)?.1 else { return className }
            return "\(package).\(className)"
        }
        return nil
    }

    /// A shell word picking the runnable jar in `folder`: Spring Boot's `-plain` jars,
    /// shade's `original-` copies, sources and javadoc jars are skipped.
    static func firstJar(in folder: String) -> String {
        #""$(ls \#(folder)/*.jar | grep -v -e '-plain\.jar$' -e '/original-' -e '-sources\.jar$' -e '-javadoc\.jar$' | head -n 1)""#
    }

    /// `<packaging>` of the project itself.
    static func mavenPackaging(_ pom: String) -> String? {
        projectSection(pom).firstMatch(of: /<packaging>\s*([^<\s]+)\s*<\/packaging>/).map { String($0.1) }
    }

    /// The file `mvn package` writes under target/: `<finalName>.jar`, or
    /// `<artifactId>-<version>.<packaging>`; nil when a property hides it.
    static func mavenArtifact(_ pom: String) -> String? {
        let packaging = mavenPackaging(pom) ?? "jar"
        guard packaging == "jar" || packaging == "war" else { return nil }
        if let finalName = pom.firstMatch(of: /<finalName>\s*([^<\s]+)\s*<\/finalName>/)?.1 {
            return finalName.contains("$") ? nil : "\(finalName).\(packaging)"
        }
        let project = projectSection(pom)
        guard let artifact = project.firstMatch(of: /<artifactId>\s*([^<\s]+)\s*<\/artifactId>/)?.1 else { return nil }
        // Without its own version the project inherits its parent's.
        let version =
            project.firstMatch(of: /<version>\s*([^<\s]+)\s*<\/version>/)?.1
            ?? pom.firstMatch(of: /(?s)<parent>.*?<version>\s*([^<\s]+)\s*<\/version>.*?<\/parent>/)?.1
        guard let version, !artifact.contains("$"), !version.contains("$") else { return nil }
        return "\(artifact)-\(version).\(packaging)"
    }

    /// The pom without the sections whose artifactId/version are not the project's own.
    private static func projectSection(_ pom: String) -> String {
        var text = pom.replacing(/(?s)<!--.*?-->/, with: "")
        for section in ["parent", "dependencies", "dependencyManagement", "build", "profiles", "reporting", "pluginRepositories", "repositories"] {
            guard let pattern = try? Regex("(?s)<\(section)>.*?</\(section)>") else { continue }
            text = text.replacing(pattern, with: "")
        }
        return text
    }
}
