import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { FileService } from '../../files/service.js';
import { createdFileView, userFileView } from '../../files/views.js';
import { callerOf, userOf } from '../auth.js';
import { errorSchema, keyConfigSchema } from './schemas.js';

const fileId = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
const fileInfo = {
  type: 'object',
  properties: {
    user_id: { type: 'string' },
    file_name: { type: 'string' },
    sha256: { type: 'string' },
    file_size: { type: 'integer' },
    access_path: { type: 'string' },
    task_id: { type: ['string', 'null'] },
    collaborator_list: { type: 'array', items: { type: 'string' } },
    key_config: keyConfigSchema,
  },
};

/** /v1/files: the file store, over the same FileService as the TDFS wire listeners. */
export function fileRoutes(app: FastifyInstance, files: FileService) {
  // Ciphertext streams straight from the socket into the verifier; it is never buffered whole.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.post<{ Body: { file_name: string; sha256: string; file_size: number } }>('/v1/files', {
    schema: {
      tags: ['files'],
      summary: 'Register a file: returns its id, the URL to PUT its ciphertext to, and the key to encrypt it with',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['file_name', 'sha256', 'file_size'],
        properties: {
          file_name: { type: 'string', maxLength: 255 },
          sha256: { type: 'string', description: 'lowercase hex SHA-256 of the plaintext' },
          file_size: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'plaintext size in bytes' },
        },
      },
      response: { 201: { type: 'object', properties: { file_id: { type: 'string' }, access_path: { type: 'string' }, key_config: keyConfigSchema } }, '4xx': errorSchema },
    },
    handler: async (request, reply) => {
      const { record, config } = files.create({ owner: userOf(request), ...request.body });
      return reply.status(201).send(createdFileView(record, config, files.accessPath(record.file_id)));
    },
  });

  app.put<{ Params: { id: string } }>('/v1/files/:id/content', {
    schema: {
      tags: ['files'],
      summary: 'Upload the ciphertext (plaintext encrypted with key_config, AES-256-GCM, 16-byte tag appended); verified before the file becomes available',
      params: fileId,
      consumes: ['application/octet-stream'],
      response: { 200: { type: 'object', properties: { file_id: { type: 'string' }, state: { type: 'string' }, file_size: { type: 'integer' }, sha256: { type: 'string' } } }, '4xx': errorSchema },
    },
    handler: async (request) => {
      const record = await files.upload(request.params.id, callerOf(request), request.body as Readable);
      return { file_id: record.file_id, state: record.state, file_size: record.file_size, sha256: record.sha256 };
    },
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id/content', {
    schema: { tags: ['files'], summary: 'Download the ciphertext', params: fileId, produces: ['application/octet-stream'] },
    handler: async (request, reply) => {
      const caller = callerOf(request);
      const { record, stream } = await files.openContent(request.params.id, caller.name, caller.role);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-length', FileService.ciphertextLength(record))
        .send(stream);
    },
  });

  app.get<{ Params: { id: string } }>('/v1/files/:id', {
    schema: { tags: ['files'], summary: "A file's info and key config (owner, or as allow_policy permits)", params: fileId, response: { 200: fileInfo, '4xx': errorSchema } },
    handler: async (request) => {
      const { record, config } = files.info(request.params.id, userOf(request));
      return userFileView(record, config, files.accessPath(record.file_id));
    },
  });

  app.get('/v1/files', {
    schema: { tags: ['files'], summary: 'The ids of the files you own', response: { 200: { type: 'object', properties: { files: { type: 'array', items: { type: 'string' } } } } } },
    handler: async (request) => ({ files: files.list(userOf(request)) }),
  });

  app.delete<{ Params: { id: string } }>('/v1/files/:id', {
    schema: { tags: ['files'], summary: 'Delete a file you own: its metadata, key and ciphertext', params: fileId, response: { 200: fileInfo, '4xx': errorSchema } },
    handler: async (request) => {
      const { record, config } = await files.delete(request.params.id, userOf(request));
      return userFileView(record, config, files.accessPath(record.file_id));
    },
  });
}
