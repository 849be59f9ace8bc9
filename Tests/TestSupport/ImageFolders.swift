// Generated image folders for the image-folder loader's tests (SyntheticImages' learnable rule), in
// several small sizes and both formats.
import BayesPruneData
import Foundation

/// Writes a folder of `classes` classes with `trainPerClass`/`valPerClass` images each; sizes cycle through
/// 40×32, 36×44, 48×48, 33×27 and formats alternate PNG / JPEG (quality 92). Returns DIR.
@discardableResult
public func writeImageFolder(
    _ dir: String, classes: Int, trainPerClass: Int, valPerClass: Int, sizes: [(Int, Int)]? = nil
) throws -> String {
    try SyntheticImages.writeFolder(
        dir, classes: classes, trainPerClass: trainPerClass, valPerClass: valPerClass,
        sizes: sizes ?? [(40, 32), (36, 44), (48, 48), (33, 27)])
    return dir
}
