import Testing
@Test func placeholderKernels() { #expect(Bool(true)) }
