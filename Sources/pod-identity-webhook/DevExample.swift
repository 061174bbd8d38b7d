/// What `serve --dev` prints: a review for the example association and the curl that posts it.
enum DevExample {
    static let review = """
        {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0f5c4d1e-demo",\
        "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},\
        "namespace":"default","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod",\
        "metadata":{"name":"demo","namespace":"default"},"spec":{"serviceAccountName":"demo",\
        "containers":[{"name":"app","image":"public.ecr.aws/amazonlinux/amazonlinux:2023"}]}}}}
        """

    static func banner(port: Int, associations: String) -> String {
        """

        pod-identity-webhook is running in development mode on https://127.0.0.1:\(port) \
        (self-signed certificate; associations: \(associations)).
        Post an example review:

        curl -sk https://127.0.0.1:\(port)/mutate -H 'Content-Type: application/json' -d '\(review)'

        Decode the patch: append | python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(sys.stdin)["response"]["patch"]).decode())'

        """
    }
}
