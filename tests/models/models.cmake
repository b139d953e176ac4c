# tests/models tests
