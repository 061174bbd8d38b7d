#if canImport(Glibc)
    import Glibc
#endif

/// glibc malloc settings that let memory go back to the system after a burst of large
/// request bodies.
///
/// By default glibc raises its mmap threshold each time a large mapped block is freed (up to
/// 32 MiB): after the first multi-megabyte review, later ones come from the heap, and a burst
/// leaves the heap grown for good. A fixed threshold keeps every block of 64 KiB or more (NIO's
/// largest read buffers, every large body) in
/// a mapping of its own, unmapped when freed; it also fixes the trim threshold, so that free
/// memory at the top of the heap is returned. docs/reliability.md has the measurements.
enum Allocator {
    // From glibc's <malloc.h>, which the Glibc module does not export.
    private static let trimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
    private static let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD

    static func returnLargeBlocksToTheSystem() {
        #if canImport(Glibc)
            typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
            guard let symbol = dlsym(nil, "mallopt") else { return }
            let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
            _ = mallopt(mmapThreshold, 64 * 1024)
            _ = mallopt(trimThreshold, 1024 * 1024)
        #endif
    }
}
