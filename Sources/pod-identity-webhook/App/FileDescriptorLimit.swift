#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The soft limit on open files, raised to the hard limit at start, as the reference does.
///
/// Container runtimes commonly leave a soft `nofile` of 1,024: about a thousand held
/// connections then stall every new one, the kubelet's liveness probe included, and the pod
/// is restarted. The hard limit is what the operator allowed; nothing above it is tried.
enum FileDescriptorLimit {
    /// Returns the soft limit before and after, or nil when it cannot be read.
    static func raiseToHardLimit() -> (before: UInt64, after: UInt64)? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (before, before) }
        return (before, UInt64(limit.rlim_max))
    }

    /// The soft limit now, or nil when it cannot be read.
    static func current() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        return UInt64(limit.rlim_cur)
    }
}
