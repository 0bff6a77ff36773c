/* The README's C example: run a model on one input, writing the output into caller memory. */
#include <stdio.h>

#include "keel/keel.h"

int main(int argc, char** argv) {
  static float pixels[1 * 3 * 64 * 64], logits[10];
  for (size_t i = 0; i < sizeof(pixels) / sizeof(float); ++i) pixels[i] = 0.5f;
  const int64_t x_shape[] = {1, 3, 64, 64}, y_shape[] = {1, 10};
  keel_model_t* model = NULL;      /* every handle is owned by the caller ... */
  keel_session_t* session = NULL;
  keel_tensor_t *x = NULL, *y = NULL;
  keel_session_options_t options = KEEL_SESSION_OPTIONS_INIT;
  options.threads = 2;
  const char* names[] = {"input"};
  keel_status_t st = argc == 2 ? keel_model_load_file(argv[1], NULL, &model) : KEEL_STATUS_INVALID_ARGUMENT;
  if (st == KEEL_STATUS_OK) st = keel_session_create(model, &options, &session);
  if (st == KEEL_STATUS_OK) st = keel_tensor_create_view(KEEL_DTYPE_FLOAT32, x_shape, 4, pixels, sizeof(pixels), &x);
  if (st == KEEL_STATUS_OK) st = keel_tensor_create_view(KEEL_DTYPE_FLOAT32, y_shape, 2, logits, sizeof(logits), &y);
  if (st == KEEL_STATUS_OK) st = keel_session_run_into(session, names, (const keel_tensor_t* const[]){x}, 1, &y, 1);
  if (st != KEEL_STATUS_OK) fprintf(stderr, "%s: %s\n", keel_status_name(st), keel_last_error_message());
  for (int i = 0; st == KEEL_STATUS_OK && i < 10; ++i) printf("%.6g\n", logits[i]);
  keel_tensor_free(y);             /* ... and freed by it; free(NULL) is a no-op */
  keel_tensor_free(x);
  keel_session_free(session);
  keel_model_free(model);
  return st == KEEL_STATUS_OK ? 0 : 1;
}
