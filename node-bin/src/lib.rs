//! node-bin: the leaderless cluster node under test.
