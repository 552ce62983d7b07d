// pop3d entry point (placeholder until the shell lands).
int main() { return 0; }
