/* pbtext.c: protobuf text format from protobuf-c's descriptors, for any message.
 *
 * The output is what protobuf's C++ TextFormat::Printer writes, so that `protoc
 * --decode=caffe2.NetDef proto/caffe2.proto < model.pb` prints model.pbtxt byte for byte:
 * set fields in field-number order (protobuf-c's descriptors keep them sorted), one
 * `name: value` line per scalar (packed or not), `name {` ... `}` around sub-messages,
 * two spaces per level; strings and bytes C-escaped (\n \r \t \" \' \\, other
 * non-printable bytes as three octal digits); floats as SimpleFtoa (%.6g, or %.9g when
 * that does not read back), doubles as SimpleDtoa (%.15g, or %.17g); enums by name.
 * Proto2 presence: optional scalars by their has_ flag, strings and messages by a
 * non-NULL pointer that is not the default. Linear in the message size.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/caffe2/c2_net.h"

static void indent(FILE *out, int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", out);
}

static void put_escaped(FILE *out, const uint8_t *s, size_t n)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		case '"': fputs("\\\"", out); break;
		case '\'': fputs("\\'", out); break;
		case '\\': fputs("\\\\", out); break;
		default:
			if (s[i] < 0x20 || s[i] >= 0x7f)
				fprintf(out, "\\%03o", s[i]);
			else
				fputc(s[i], out);
		}
	}
	fputc('"', out);
}

static void put_float(FILE *out, float v)
{
	char buf[64];
	if (isnan(v)) {
		fputs("nan", out);
		return;
	}
	if (isinf(v)) {
		fputs(v < 0 ? "-inf" : "inf", out);
		return;
	}
	snprintf(buf, sizeof buf, "%.*g", FLT_DIG, (double)v);
	if (strtof(buf, NULL) != v)
		snprintf(buf, sizeof buf, "%.*g", FLT_DIG + 3, (double)v);
	fputs(buf, out);
}

static void put_double(FILE *out, double v)
{
	char buf[64];
	if (isnan(v)) {
		fputs("nan", out);
		return;
	}
	if (isinf(v)) {
		fputs(v < 0 ? "-inf" : "inf", out);
		return;
	}
	snprintf(buf, sizeof buf, "%.*g", DBL_DIG, v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof buf, "%.*g", DBL_DIG + 2, v);
	fputs(buf, out);
}

static void print_msg(FILE *out, const ProtobufCMessage *msg, int depth);

/* One value of field f stored at p. */
static void put_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: fprintf(out, "%" PRId32, *(const int32_t *)p); break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: fprintf(out, "%" PRIu32, *(const uint32_t *)p); break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: fprintf(out, "%" PRId64, *(const int64_t *)p); break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: fprintf(out, "%" PRIu64, *(const uint64_t *)p); break;
	case PROTOBUF_C_TYPE_FLOAT: put_float(out, *(const float *)p); break;
	case PROTOBUF_C_TYPE_DOUBLE: put_double(out, *(const double *)p); break;
	case PROTOBUF_C_TYPE_BOOL: fputs(*(const protobuf_c_boolean *)p ? "true" : "false", out); break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		if (ev)
			fputs(ev->name, out);
		else
			fprintf(out, "%d", v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		put_escaped(out, (const uint8_t *)s, strlen(s));
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		put_escaped(out, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		fputs("{\n", out);
		print_msg(out, *(ProtobufCMessage *const *)p, depth + 1);
		indent(out, depth);
		fputs("}", out);
		break;
	}
}

static size_t value_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: return 8;
	case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	default: return 4;
	}
}

/* Whether a singular field is set (proto2 presence). */
static int present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)msg;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return 1;
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const void *p = *(const void *const *)(base + f->offset);
		return p != NULL && (f->type == PROTOBUF_C_TYPE_MESSAGE || p != f->default_value);
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

static void put_field(FILE *out, const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
	indent(out, depth);
	fprintf(out, f->type == PROTOBUF_C_TYPE_MESSAGE ? "%s " : "%s: ", f->name);
	put_value(out, f, p, depth);
	fputc('\n', out);
}

static void print_msg(FILE *out, const ProtobufCMessage *msg, int depth)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const char *arr = *(const char *const *)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				put_field(out, f, arr + k * value_size(f->type), depth);
		} else if (present(msg, f)) {
			put_field(out, f, base + f->offset, depth);
		}
	}
}

void pb_print_text(FILE *out, const ProtobufCMessage *msg)
{
	print_msg(out, msg, 0);
}
