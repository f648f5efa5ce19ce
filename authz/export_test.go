package authz

// CheckServiceDesc and CheckCodec expose the Check service description
// and the server codec to the wire benchmarks, which call them as the
// gRPC server does.
var (
	CheckServiceDesc = &checkServiceDesc
	CheckCodec       = checkCodec{}
)
