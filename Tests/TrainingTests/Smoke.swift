import Testing
@Test func placeholderTraining() { #expect(Bool(true)) }
