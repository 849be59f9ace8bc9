// `bayesprune make-data KIND --out PATH`: writes a synthetic data set whose truth is known:
// variable-selection (one CSV file) or the paper's tabular examples paper-example-1/2/3 (a directory with
// train.csv and test.csv).
import ArgumentParser
import BayesPruneData
import BayesPruneRunIO
import Foundation

struct MakeData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-data",
        abstract: "Write a synthetic data set with known relevant inputs.",
        discussion: """
            variable-selection: one CSV file; correlated Gaussian inputs x1..xP (AR(1)), y = 2·tanh(x1) + x2·x3 + \
            sin(2·x4) + ½·x5² + noise.
            paper-example-1, -2, -3: Ke & Fan's tabular examples, as a directory with train.csv (10 240 rows) and \
            test.csv (1 024 rows); inputs x_j = (z0 + z_j)/√2, z ~ N(0,1) truncated at ±10 (pairwise correlation \
            0.5).
              1: P = 1000, y = tanh(2·tanh(2x0 − x1)) + 2·tanh(tanh(x2 − 2x3)) − tanh(2x4) + N(0,1)
              2: P = 2000, y = 5·x1/(1 + x0²) + 5·sin(x2·x3) + 2·x4 + N(0,1)
              3: P = 1000, y = 1 if exp(x0) + x1² + 5·sin(x2·x3) − 3 > 0, else 0
            image-folder: DIR/train and DIR/val, one subfolder per class (--classes, default 10) of JPEG images \
            (--width × --height, default 500×375, ImageNet's most common size); class k brightens colour channel \
            k mod 3 in horizontal band ⌊k/3⌋ mod 3 of a noisy image. --rows is the training images per class \
            (default 50), a fifth as many go to val.
            """
    )

    @Argument(
        help: "The data set: variable-selection, paper-example-1, paper-example-2, paper-example-3 or image-folder.")
    var kind: String
    @Option(help: "Output: a CSV file (variable-selection) or a directory that does not exist yet (paper examples).")
    var out: String
    @Option(
        parsing: .unconditional,
        help: "Rows (variable-selection; default 12800); image-folder: training images per class (default 50).")
    var rows: Int?
    @Option(
        parsing: .unconditional,
        help: "Input columns (variable-selection: default 200, the first 5 relevant; paper examples: default P).")
    var inputs: Int?
    @Option(
        parsing: .unconditional,
        help: "AR(1) correlation between neighbouring inputs (variable-selection; default 0.5).")
    var correlation: Double?
    @Option(
        parsing: .unconditional, help: "Standard deviation of the Gaussian noise (variable-selection; default 0.5).")
    var noise: Double?
    @Option(parsing: .unconditional, help: "Random seed (default 1).") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Classes (image-folder; default 10).") var classes: Int?
    @Option(parsing: .unconditional, help: "Image width (image-folder; default 500).") var width: Int?
    @Option(parsing: .unconditional, help: "Image height (image-folder; default 375).") var height: Int?

    func run() throws {
        try reportingErrors {
            if kind != "image-folder" {
                for (given, name) in [(classes != nil, "classes"), (width != nil, "width"), (height != nil, "height")]
                where given {
                    throw ValidationError("--\(name): only for image-folder")
                }
            }
            if let example = PaperExample.allCases.first(where: { $0.name == kind }) {
                try writePaperExample(example)
                return
            }
            if kind == "image-folder" {
                try writeImageFolder()
                return
            }
            guard kind == "variable-selection" else {
                let names = (["variable-selection"] + PaperExample.allCases.map(\.name) + ["image-folder"])
                    .joined(separator: ", ")
                throw ValidationError("make-data: unknown data set \(kind); expected one of \(names)")
            }
            var s = VariableSelectionSpec()
            s.rows = rows ?? s.rows
            s.inputs = inputs ?? s.inputs
            s.correlation = correlation ?? s.correlation
            s.noise = noise ?? s.noise
            s.seed = seed
            guard s.rows >= 1 else { throw ValidationError("--rows: must be at least 1") }
            guard s.inputs >= 5 else { throw ValidationError("--inputs: must be at least 5") }
            guard abs(s.correlation) < 1 else { throw ValidationError("--correlation: must be in (-1, 1)") }
            guard s.noise >= 0 else { throw ValidationError("--noise: must be >= 0") }
            guard !out.isEmpty, !out.hasSuffix("/") else { throw ValidationError("--out: must name a CSV file") }
            try AtomicFile.write(SyntheticData.variableSelectionCSV(s), to: out)
        }
    }

    /// Like the paper examples, written under a temporary name and renamed.
    func writeImageFolder() throws {
        for (given, name) in [(inputs != nil, "inputs"), (correlation != nil, "correlation"), (noise != nil, "noise")]
        where given {
            throw ValidationError("--\(name): not for image-folder")
        }
        let (k, w, h, perClass) = (classes ?? 10, width ?? 500, height ?? 375, rows ?? 50)
        guard (2...1000).contains(k) else { throw ValidationError("--classes: must be between 2 and 1000, got \(k)") }
        guard (8...4096).contains(w) else { throw ValidationError("--width: must be between 8 and 4096, got \(w)") }
        guard (8...4096).contains(h) else { throw ValidationError("--height: must be between 8 and 4096, got \(h)") }
        guard (1...100_000).contains(perClass) else {
            throw ValidationError("--rows: must be between 1 and 100000 images per class, got \(perClass)")
        }
        try writeDirectoryAtomically { temporary in
            try SyntheticImages.writeFolder(
                temporary, classes: k, trainPerClass: perClass, valPerClass: max(1, perClass / 5), sizes: [(w, h)],
                seed: seed, allJPEG: true)
        }
    }

    /// Runs `fill` on a fresh temporary sibling of --out, then renames it to --out, so the directory appears
    /// complete or not at all.
    func writeDirectoryAtomically(_ fill: (String) throws -> Void) throws {
        guard !out.isEmpty else { throw ValidationError("--out: must name a directory to create") }
        // "data/ex1/" names the directory data/ex1: without the slash the temporary is its sibling.
        let directory = URL(fileURLWithPath: out).standardized.path
        guard !FileManager.default.fileExists(atPath: directory) else {
            throw ValidationError("--out: \(out) already exists; give a new directory")
        }
        let temporary = directory + ".partial-\(getpid())"
        do {
            try makeRunDirectory(temporary)
            try fill(temporary)
            guard rename(temporary, directory) == 0 else {
                throw OutputError(description: "\(out): cannot create (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// The directory is written under a temporary name and renamed, so it appears complete or not at all.
    func writePaperExample(_ example: PaperExample) throws {
        for (given, name) in [(rows != nil, "rows"), (correlation != nil, "correlation"), (noise != nil, "noise")]
        where given {
            throw ValidationError("--\(name): only for variable-selection (the paper examples fix it)")
        }
        if let p = inputs, !(5...100_000).contains(p) {
            throw ValidationError("--inputs: must be between 5 and 100000, got \(p)")
        }
        let (train, test) = example.csv(seed: seed, inputs: inputs)
        try writeDirectoryAtomically { temporary in
            try AtomicFile.write(Data(train), to: temporary + "/train.csv")
            try AtomicFile.write(Data(test), to: temporary + "/test.csv")
        }
    }
}
