import PodIdentityCore
import Testing

@Suite("ServiceAccount annotations", .timeLimit(.minutes(1)))
struct ServiceAccountInfoTests {
    static let ref = ServiceAccountRef(namespace: "shop", name: "checkout")

    @Test(
        "sts-regional-endpoints takes exactly Go's ParseBool spellings",
        arguments: [
            ("1", true), ("t", true), ("T", true), ("TRUE", true), ("true", true), ("True", true), ("0", false),
            ("f", false), ("F", false), ("FALSE", false), ("false", false), ("False", false),
        ])
    func parseBool(text: String, expected: Bool) {
        #expect(ServiceAccountInfo.parseBool(text) == expected)
    }

    @Test("anything else is not a boolean, and the flag applies", arguments: ["yes", "no", "on", "", " true", "tRUE"])
    func notBooleans(text: String) {
        #expect(ServiceAccountInfo.parseBool(text) == nil)
        let info = ServiceAccountInfo(
            ref: Self.ref, annotations: [(key: "eks.amazonaws.com/sts-regional-endpoints", value: text)],
            prefix: "eks.amazonaws.com")
        #expect(info.regionalSTS == nil)
    }

    @Test("only PREFIX/ annotations count, compared byte for byte")
    func prefix() {
        let annotations: [(key: String, value: String)] = [
            (key: "eks.amazonaws.com/role-arn", value: "arn:aws:iam::111122223333:role/a"),
            (key: "example.com/role-arn", value: "arn:aws:iam::111122223333:role/b"),
            (key: "eks.amazonaws.com/token-expiration", value: "3600"), (key: "eks.amazonaws.com/audience", value: "custom"),
            (key: "eks.amazonaws.comx/role-arn", value: "no"), (key: "\u{212A}eks.amazonaws.com/role-arn", value: "no"),
        ]
        let eks = ServiceAccountInfo(ref: Self.ref, annotations: annotations, prefix: "eks.amazonaws.com")
        #expect(eks.roleARN == "arn:aws:iam::111122223333:role/a")
        #expect(eks.tokenExpiration == 3600 && eks.audience == "custom")
        let custom = ServiceAccountInfo(ref: Self.ref, annotations: annotations, prefix: "example.com")
        #expect(custom.roleARN == "arn:aws:iam::111122223333:role/b" && custom.tokenExpiration == nil)
        // A KELVIN SIGN is not a K: no canonical equivalence in keys.
        let kelvin = ServiceAccountInfo(
            ref: Self.ref, annotations: [(key: "\u{212A}8s.example/role-arn", value: "x")],
            prefix: "k8s.example")
        #expect(kelvin.roleARN == nil)
    }

    @Test("an empty role-arn is no role; token-expiration is clamped or ignored")
    func values() {
        let info = ServiceAccountInfo(
            ref: Self.ref,
            annotations: [(key: "eks.amazonaws.com/role-arn", value: ""), (key: "eks.amazonaws.com/token-expiration", value: "60")],
            prefix: "eks.amazonaws.com")
        #expect(info.roleARN == nil && info.tokenExpiration == 600)
        let bad = ServiceAccountInfo(
            ref: Self.ref, annotations: [(key: "eks.amazonaws.com/token-expiration", value: "1h")],
            prefix: "eks.amazonaws.com")
        #expect(bad.tokenExpiration == nil && !bad.isInteresting)
    }

    @Test(
        "IAM role ARNs as the reference checks them",
        arguments: [
            ("arn:aws:iam::111122223333:role/app", true), ("arn:aws-cn:iam::111122223333:role/a/b.c@d+e=f,g-h_i", true),
            ("arn:aws-us-gov:iam::111122223333:role/x", true), ("arn:aws:iam::111122223333:user/bob", false),
            ("arn:aws:iam::123:role/x", false), ("arn:aws:sts::111122223333:role/x", false),
            ("arn:aws:iam::111122223333:role/", false), ("role/app", false), ("arn:aws:iam::111122223333:role/a b", false),
        ])
    func roleARN(arn: String, valid: Bool) {
        #expect(ServiceAccountInfo.isIAMRoleARN(arn) == valid)
    }
}
