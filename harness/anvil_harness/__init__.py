"""Python side of Anvil: runs reference programs and candidates for the C++ Verifier."""
