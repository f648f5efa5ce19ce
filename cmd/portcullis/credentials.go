package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/spf13/cobra"
)

// RSA modulus sizes `credentials generate` accepts: the id_token mutator
// loads 2048 to 8192 bits (RFC 7518 §3.3 asks for at least 2048).
const (
	defaultRSABits = 3072
	minRSABits     = 2048
	maxRSABits     = 8192
)

// signingAlgs are the algorithms the id_token mutator signs with, by
// their upper-case names: Oathkeeper's list less HS*, whose keys cannot
// be published.
var signingAlgs = map[string]jwa.SignatureAlgorithm{
	"ES256": jwa.ES256, "ES384": jwa.ES384, "ES512": jwa.ES512, "EDDSA": jwa.EdDSA,
	"RS256": jwa.RS256, "RS384": jwa.RS384, "RS512": jwa.RS512,
	"PS256": jwa.PS256, "PS384": jwa.PS384, "PS512": jwa.PS512,
}

// algNames lists signingAlgs for messages and help.
const algNames = "ES256, ES384, ES512, EdDSA, RS256, RS384, RS512, PS256, PS384 or PS512"

// generateOptions are the flags of `credentials generate`.
type generateOptions struct {
	alg        string
	kid        string
	bits       int
	output     string // "" is stdout
	publicPath string // "" writes no public half
}

func credentialsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Make signing keys for the id_token mutator",
	}
	var o generateOptions
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Generate a JWKS with one private signing key (for mutators.id_token.config.jwks_url)",
		Long: `Generate a JWKS holding one new private key, for the id_token mutator's
jwks_url. The private set goes to stdout, or to --output (created with mode
0600; an existing file is never overwritten). --public also writes the
published half: the same key without its private members, which is what
Portcullis serves at /.well-known/jwks.json for the services that verify
the tokens.`,
		Example: `  portcullis credentials generate --alg ES256 --kid 2026-12 \
    --output id_token.jwks.json --public id_token.public.jwks.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return generateCredentials(cmd.OutOrStdout(), o)
		},
	}
	gen.Flags().StringVar(&o.alg, "alg", "", "signing algorithm: "+algNames+" (required)")
	gen.Flags().StringVar(&o.kid, "kid", "", "key id (default: the key's RFC 7638 thumbprint)")
	gen.Flags().IntVar(&o.bits, "bits", defaultRSABits, "RSA modulus size in bits (RS* and PS* only)")
	gen.Flags().StringVarP(&o.output, "output", "o", "", "write the private JWKS to this new file (mode 0600) instead of stdout")
	gen.Flags().StringVar(&o.publicPath, "public", "", "also write the public JWKS (the half to publish) to this new file")
	cmd.AddCommand(gen)
	return cmd
}

// generateCredentials makes the key and writes the private set, then the
// public one. Both files are created exclusively before anything is
// written, so a key in use is never replaced and a failed run leaves no
// private key without its public half.
func generateCredentials(stdout io.Writer, o generateOptions) error {
	if err := validKID(o.kid); err != nil {
		return err
	}
	if o.output != "" && o.output == o.publicPath {
		return errors.New("--output and --public name the same file")
	}
	private, public, err := newKeySet(o.alg, o.kid, o.bits)
	if err != nil {
		return err
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	open := func(flag, path string, perm os.FileMode) (io.Writer, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%s: %s already exists: refusing to overwrite a key file", flag, path)
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		files = append(files, f)
		return f, nil
	}
	privateOut, publicOut := stdout, io.Discard
	if o.output != "" {
		if privateOut, err = open("--output", o.output, 0o600); err != nil {
			return err
		}
	}
	if o.publicPath != "" {
		if publicOut, err = open("--public", o.publicPath, 0o644); err != nil {
			if o.output != "" {
				os.Remove(o.output) // created empty just above
			}
			return err
		}
	}
	if _, err := privateOut.Write(private); err != nil {
		return err
	}
	if _, err := publicOut.Write(public); err != nil {
		return err
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			return err
		}
	}
	files = nil
	return nil
}

// newKeySet generates one key for alg and returns the private and the
// public JWKS, indented JSON each. Every key carries kid, alg and
// use "sig", as the id_token mutator and token verifiers expect.
func newKeySet(alg, kid string, bits int) (private, public []byte, err error) {
	var raw crypto.Signer
	sigAlg, ok := signingAlgs[strings.ToUpper(alg)]
	switch {
	case alg == "":
		return nil, nil, fmt.Errorf("--alg: is required (%s)", algNames)
	case !ok:
		return nil, nil, fmt.Errorf("--alg: %q is not supported (%s; HMAC keys cannot be published)", alg, algNames)
	case sigAlg == jwa.ES256:
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case sigAlg == jwa.ES384:
		raw, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case sigAlg == jwa.ES512:
		raw, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case sigAlg == jwa.EdDSA:
		_, raw, err = ed25519.GenerateKey(rand.Reader)
	default: // RS*, PS*
		if bits < minRSABits || bits > maxRSABits {
			return nil, nil, fmt.Errorf("--bits: must be between %d and %d for %s (got %d)", minRSABits, maxRSABits, sigAlg, bits)
		}
		raw, err = rsa.GenerateKey(rand.Reader, bits)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", sigAlg, err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s key: %w", sigAlg, err)
	}
	if kid == "" {
		tp, err := key.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("thumbprint %s key: %w", sigAlg, err)
		}
		kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: sigAlg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := key.Set(name, v); err != nil {
			return nil, nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(key); err != nil {
		return nil, nil, err
	}
	pubSet, err := jwk.PublicSetOf(set)
	if err != nil {
		return nil, nil, fmt.Errorf("derive public key: %w", err)
	}
	if private, err = json.MarshalIndent(set, "", "  "); err != nil {
		return nil, nil, err
	}
	if public, err = json.MarshalIndent(pubSet, "", "  "); err != nil {
		return nil, nil, err
	}
	return append(private, '\n'), append(public, '\n'), nil
}

// validKID accepts printable ids: the kid goes into every token header and
// into the published set.
func validKID(kid string) error {
	if len(kid) > 256 {
		return fmt.Errorf("--kid: at most 256 characters (got %d)", len(kid))
	}
	for _, r := range kid {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("--kid: %q contains a control or non-printable character", kid)
		}
	}
	return nil
}
