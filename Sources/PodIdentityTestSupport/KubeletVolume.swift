import Foundation

/// Updates a directory the way the kubelet updates a mounted ConfigMap or Secret: the new
/// files go into a new hidden directory, then one rename swaps the `..data` symlink to it.
/// Each visible file is a symlink through `..data`, so no file is ever written in place.
public enum KubeletVolume {
    public static func update(_ directory: URL, generation: Int, files: [String: String]) throws {
        let manager = FileManager.default
        let version = directory.appendingPathComponent("..2026_11_23_\(generation)")
        try manager.createDirectory(at: version, withIntermediateDirectories: true)
        for (name, contents) in files {
            try Data(contents.utf8).write(to: version.appendingPathComponent(name))
        }
        let staging = directory.appendingPathComponent("..data_tmp")
        try? manager.removeItem(at: staging)
        try manager.createSymbolicLink(atPath: staging.path, withDestinationPath: version.lastPathComponent)
        guard rename(staging.path, directory.appendingPathComponent("..data").path) == 0 else {
            throw CocoaError(.fileWriteUnknown)
        }
        for name in files.keys {
            let link = directory.appendingPathComponent(name)
            if (try? manager.destinationOfSymbolicLink(atPath: link.path)) == nil {
                try manager.createSymbolicLink(atPath: link.path, withDestinationPath: "..data/\(name)")
            }
        }
    }
}
