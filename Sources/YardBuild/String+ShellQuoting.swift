extension String {
    /// The string as one `/bin/sh` word: unchanged when it has only safe characters,
    /// otherwise single-quoted.
    var shellQuoted: String {
        let safe = !isEmpty && unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || "-_./=:@%+,".unicodeScalars.contains(scalar))
        }
        if safe { return self }
        return "'" + replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
