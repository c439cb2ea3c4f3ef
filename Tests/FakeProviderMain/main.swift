import FakeProvider
import Foundation

// tokenledger-fake-provider [PORT]: the fake OpenAI/Anthropic upstream for the SDK tests.
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 18_090
let fake = FakeProvider()
try await fake.run(port: port) { port in
    FileHandle.standardOutput.write(Data("fake provider listening on http://127.0.0.1:\(port)\n".utf8))
}
