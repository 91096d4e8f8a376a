import ArgumentParser
import Foundation
import YardControl
import YardCore

/// `yard serve`'s SMTP relay for email alert channels. The password never comes from argv.
struct AlertMailOptions: ParsableArguments {
    @Option(name: .customLong("smtp-url"), help: "The SMTP relay email alerts go through, smtp://[user@]host[:port] (STARTTLS when offered; the password from --smtp-password-file or YARD_SMTP_PASSWORD).")
    var smtpURL: String?

    @Option(name: .customLong("smtp-password-file"), help: "A file (0600) holding the SMTP password.")
    var smtpPasswordFile: String?

    @Option(name: .customLong("smtp-from"), help: "The From address of alert emails.")
    var smtpFrom: String?

    @Option(name: .customLong("smtp-ca-file"), help: "A PEM file of certificates trusted for the relay's STARTTLS besides the system's.")
    var smtpCAFile: String?

    func configuration() throws -> AlertMailConfiguration? {
        guard let smtpURL else {
            guard smtpFrom == nil, smtpPasswordFile == nil else { throw ValidationError("--smtp-from and --smtp-password-file need --smtp-url") }
            return nil
        }
        guard let smtpFrom else { throw ValidationError("--smtp-url needs --smtp-from ADDRESS (the sender of alert emails)") }
        var password = ProcessInfo.processInfo.environment["YARD_SMTP_PASSWORD"]
        if let smtpPasswordFile {
            guard let text = FileManager.default.contents(atPath: smtpPasswordFile) else {
                throw ValidationError("--smtp-password-file: cannot read \(smtpPasswordFile)")
            }
            password = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        do {
            var mail = try AlertMailConfiguration.parse(url: smtpURL, password: password, from: smtpFrom)
            mail.trustedCertificateFile = smtpCAFile
            return mail
        } catch let error as YardError {
            throw ValidationError(error.message)
        }
    }
}
