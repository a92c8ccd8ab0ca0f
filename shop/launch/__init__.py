"""`shop launch-check`: is this deployment fit to launch? Each item PASS, FAIL (blocks) or WARN."""
