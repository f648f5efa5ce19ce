// Package xds is the xds:// rule source: it subscribes to a control
// plane's rule resources (ruleproto.TypeURL) over an ADS stream, hands
// every set it receives to the rule store's validate → compile → publish
// path, and answers with an ACK of the version applied or a NACK carrying
// the validation errors. The rules in force keep serving while the stream
// is down; it reconnects with exponential backoff and jitter.
//
// xds imports rulestore, ruleproto and pipeline; never a handler or authz.
package xds
