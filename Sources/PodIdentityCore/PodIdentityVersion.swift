/// The release version, printed by `version` and `--version`.
public enum PodIdentityVersion {
    public static let current = "0.1.0"
}
