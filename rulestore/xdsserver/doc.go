// Package xdsserver is the rule control plane: it serves validated rule
// sets as rulesv1.Rule resources (type ruleproto.TypeURL, one resource
// per rule, named by id) over xDS, on go-control-plane's SotW/ADS server
// and snapshot cache, and records every node's ACKs and NACKs.
//
// Server publishes sets it is given; Dir reads them from a directory of
// Oathkeeper rule files (a folder per node cluster optional), validates
// them with the caller's compiler and hands the good ones to a Server.
//
// xdsserver imports rulestore, ruleproto and pipeline, never a handler or
// authz: validation comes in as a function.
package xdsserver
