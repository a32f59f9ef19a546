// Package conf reads keepalived.conf as keepalived does (keepalived.conf(5), "CONFIGURATION PARSER"
// and "ADVANCED CONFIGURATION"): lines are read one by one, `include` (and includer, includem,
// includew, includeb, includea), recognised after '@id' and parameter substitution as keepalived
// 2.2.7 does, pulls in files matched by a glob relative to the including file (absolute ones under
// Options.Root),
// comments run from '#' or '!' outside quotes to the end of the line, '@id' and '@^id' keep a line
// only for (or except for) one config-id, `$NAME=value` defines a parameter (multi-line when the
// value is a lone '\'), `$NAME` and `${NAME}` are replaced recursively, and the words of a line,
// quoted with " or ' and escaped as in the shell, make directives that '{' and '}' nest into
// blocks.
//
// The result is a tree of directives, each with the file and line it came from; what the
// directives mean is for the caller (package keepalived) to decide.
package conf
