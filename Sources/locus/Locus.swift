// The `locus` command: one file per subcommand. This is the only place where errors become exit
// codes: 1 for a problem with the user's input, 70 for a compiler bug.
import ArgumentParser
import Foundation
import LocusDriver
import LocusRuntime
import LocusTraining

@main
struct Locus: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile vision-transformer specs into native code, and run them.",
    version: "0.1.0",
    subcommands: [
      CompileCommand.self, RunCommand.self, ParamsCommand.self, InitCommand.self, SummaryCommand.self, TrainCommand.self,
      EvalCommand.self, GradCommand.self, BenchCommand.self, BenchRunCommand.self, ProfileCommand.self,
    ])
}

/// Runs `body`, printing a pipeline, runtime or training error the way a person needs to read it
/// (no stack trace, no "Error:" noise) and exiting non-zero.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch let error as DriverError {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    throw ExitCode(error.isInternal ? 70 : 1)
  } catch let error as RuntimeError {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    throw ExitCode(1)
  } catch let error as TrainingError {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    throw ExitCode(1)
  }
}

func printErr(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}
