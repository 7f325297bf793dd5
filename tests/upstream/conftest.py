def pytest_configure(config):
    # Marks that Transformers' common tests use, registered by its own conftest (not in the sdist's tests/ folder).
    for name in (
        "accelerate_tests",
        "flash_attn_test",
        "flash_attn_3_test",
        "flash_attn_4_test",
        "torch_compile_test",
    ):
        config.addinivalue_line("markers", f"{name}: a mark of Transformers' common tests")
