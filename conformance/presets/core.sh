# Preset "core" for conformance/run.sh (sourced by bash).
# s3-tests files, relative to the s3-tests directory:
PRESET_FILES=(s3tests/functional/test_s3.py s3tests/functional/test_headers.py)
# pytest -m: everything except features this RGW 16 setup does not have or that are not S3 core
# (see docs/conformance.md, "The core preset"):
PRESET_MARKERS="not fails_on_rgw and not lifecycle and not lifecycle_expiration and not lifecycle_transition and not cloud_transition and not cloud_restore and not s3website and not sse_s3 and not encryption and not bucket_encryption and not bucket_logging and not bucket_logging_cleanup and not fails_without_logging_rollover and not iam_account and not iam_user and not iam_tenant and not iam_role and not iam_cross_account and not sns and not test_of_sts and not s3select and not webidentity_test and not checksum and not conditional_write and not object_ownership and not delete_marker"
# always deselected (node ids): radosgw 16.2.15 aborts (crashes) on this one, even directly
PRESET_DESELECT=(s3tests/functional/test_s3.py::test_upload_part_copy_percent_encoded_key)
