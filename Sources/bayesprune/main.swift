// Entry point: fix the OpenBLAS kernel choice before anything else (it may re-execute this process
// once with OPENBLAS_CORETYPE set), then hand over to the argument parser.
import BayesPruneRuntime

let kernelReport = OpenBLASSetup.ensureBestKernel(arguments: CommandLine.arguments)
BayesPruneCommand.runOneLine()
