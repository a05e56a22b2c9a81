//! mcp-instrument.
