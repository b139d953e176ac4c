# tests/kernels tests
