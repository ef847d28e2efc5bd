import type { FastifyInstance } from 'fastify';
import type { FunctionRegistry } from '../../functions/registry.js';
import type { FunctionSpec, UserFunctions } from '../../functions/user.js';
import type { TaskService } from '../../tasks/service.js';
import { userTaskView } from '../../tasks/views.js';
import { userOf } from '../auth.js';
import { TesseraError } from '../../errors/index.js';
import { errorSchema } from './schemas.js';

const taskId = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
const ids = { type: 'array', items: { type: 'string' } };
const taskInfo = {
  type: 'object',
  properties: {
    user_id: { type: 'string' },
    function_name: { type: 'string' },
    function_type: { enum: ['Single', 'Multiparty'] },
    status: { enum: ['Created', 'Ready', 'Running', 'Finished', 'Failed'] },
    ip: { type: 'string' },
    port: { type: 'integer' },
    task_token: { type: 'string' },
    collaborator_list: { type: 'array', items: { type: 'object', properties: { user_id: { type: 'string' }, approved: { type: 'boolean' } } } },
    task_result_file_id: { type: ['string', 'null'] },
    user_private_result_file_id: ids,
    input_files: { type: 'array', items: { type: 'object', properties: { user_id: { type: 'string' }, file_id: { type: 'string' } } }, description: 'the files each participant has contributed so far (REST only; the wire keeps MesaTEE’s shape)' },
    function_hash: { type: ['string', 'null'], description: 'for a registered function, the SHA-256 of everything that decides its behaviour (code, kind, type, entry, interface with each output’s routing, limits): what collaborators approve' },
  },
};

/** /v1/tasks and /v1/functions, over the same TaskService as TMS and FNS. */
export function taskRoutes(app: FastifyInstance, tasks: TaskService, functions: FunctionRegistry, registered: UserFunctions) {
  app.post<{ Body: { function_name: string; collaborator_list?: string[]; files?: string[] } }>('/v1/tasks', {
    schema: {
      tags: ['tasks'],
      summary: 'Create a task; a multi-party one waits for every collaborator to approve',
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['function_name'],
        properties: { function_name: { type: 'string' }, collaborator_list: ids, files: ids },
      },
      response: { 201: { type: 'object', properties: { task_id: { type: 'string' }, task_token: { type: 'string' }, status: { type: 'string' } } }, '4xx': errorSchema },
    },
    handler: async (request, reply) => {
      const t = tasks.create({
        creator: userOf(request),
        function_name: request.body.function_name,
        collaborator_list: request.body.collaborator_list ?? [],
        files: request.body.files ?? [],
      });
      return reply.status(201).send({ task_id: t.task_id, task_token: t.task_token, status: t.status });
    },
  });

  app.get<{ Params: { id: string } }>('/v1/tasks/:id', {
    schema: { tags: ['tasks'], summary: 'A task you take part in', params: taskId, response: { 200: taskInfo, '4xx': errorSchema } },
    handler: async (request) => {
      const user = userOf(request);
      const t = tasks.getForUser(request.params.id, user);
      return { ...userTaskView(t, user), input_files: t.input_files.map((f) => ({ user_id: f.user_id, file_id: f.file_id })), function_hash: t.function_hash ?? null };
    },
  });

  app.get('/v1/tasks', {
    schema: { tags: ['tasks'], summary: 'The tasks you created or collaborate on', response: { 200: { type: 'object', properties: { tasks: ids } } } },
    handler: async (request) => ({ tasks: tasks.listForUser(userOf(request)) }),
  });

  app.post<{ Params: { id: string }; Body: { files: string[]; function_hash?: string } }>('/v1/tasks/:id/approve', {
    schema: {
      tags: ['tasks'],
      summary: 'Approve a multi-party task as a collaborator, contributing your files; with function_hash, only if the task runs the function with that hash',
      params: taskId,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['files'],
        properties: {
          files: ids,
          function_hash: {
            type: 'string',
            maxLength: 128,
            description: 'the function_hash you reviewed (GET /v1/functions/{id}); when the task’s function has another one now, the approval is refused with 409 naming both, and nothing is recorded. Not on the wire (TMS Update keeps MesaTEE’s shape).',
          },
        },
      },
      response: { 200: { type: 'object', properties: { status: { type: 'string' }, approved_user_number: { type: 'integer' } } }, '4xx': errorSchema },
    },
    handler: async (request) => {
      const t = tasks.approve({ task_id: request.params.id, files: request.body.files, user: userOf(request), function_hash: request.body.function_hash });
      return { status: t.status, approved_user_number: t.approved_user_number };
    },
  });

  app.post<{ Params: { id: string }; Body: { task_token: string; payload?: string | null } }>('/v1/tasks/:id/invoke', {
    schema: {
      tags: ['tasks'],
      summary: 'Run a Ready task (once); any participant may',
      params: taskId,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['task_token'],
        properties: { task_token: { type: 'string' }, payload: { type: ['string', 'null'] } },
      },
      response: { 200: { type: 'object', properties: { result: { type: 'string' } } }, '4xx': errorSchema },
    },
    handler: async (request) => {
      const user = userOf(request);
      const task = tasks.getForUser(request.params.id, user);
      const result = await tasks.invoke({
        task_id: request.params.id,
        function_name: task.function_name,
        task_token: request.body.task_token,
        payload: request.body.payload ?? null,
        user,
      });
      return { result };
    },
  });

  app.get('/v1/functions', {
    schema: {
      tags: ['functions'],
      summary: 'The functions tasks can run, with their interfaces',
      response: {
        200: {
          type: 'object',
          properties: {
            functions: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  name: { type: 'string' },
                  kind: { type: 'string' },
                  type: { type: 'string' },
                  description: { type: 'string' },
                  interface: { type: 'object', additionalProperties: true },
                  owner: { type: 'string' },
                  code_hash: { type: 'string' },
                  function_hash: { type: 'string' },
                },
              },
            },
          },
        },
      },
    },
    handler: async () => ({
      functions: [
        ...functions.list().map((f) => ({ name: f.name, kind: f.kind, type: f.type, description: f.description, interface: f.interface })),
        ...registered.list().map((f) => ({ name: f.id, kind: f.kind, type: f.type, description: `${f.name}: ${f.description ?? ''}`, interface: f.interface, owner: f.owner, code_hash: f.code_hash, function_hash: f.function_hash })),
      ],
    }),
  });

  app.post<{ Body: FunctionSpec }>('/v1/functions', {
    schema: {
      tags: ['functions'],
      summary: 'Register a js or wasm task function; its id is content-addressed (the SHA-256 of the whole registration)',
      body: { type: 'object' },
      response: { 201: { type: 'object', properties: { function_id: { type: 'string' }, code_hash: { type: 'string' }, function_hash: { type: 'string' }, name: { type: 'string' } } }, '4xx': errorSchema },
    },
    handler: async (request, reply) => {
      const f = registered.register(userOf(request), request.body);
      return reply.status(201).send({ function_id: f.id, code_hash: f.code_hash, function_hash: f.function_hash, name: f.name });
    },
  });

  app.get<{ Params: { id: string } }>('/v1/functions/:id', {
    schema: { tags: ['functions'], summary: 'A registered function, with its code', params: { type: 'object', properties: { id: { type: 'string' } } } },
    handler: async (request) => {
      userOf(request);
      const f = registered.get(request.params.id);
      if (!f) throw new TesseraError('not_found', `no registered function ${request.params.id}`);
      return f;
    },
  });
}
